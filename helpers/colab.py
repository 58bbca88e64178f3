"""Colab plumbing configured in one place: the repository URL, the notebooks' setup cell, the badges.

Change ``REPO_URL``/``BRANCH`` here, then run ``python -m helpers.colab`` to rewrite every notebook's
setup cell; ``tests/test_colab.py`` fails while a notebook or the README is out of sync.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_URL = "https://github.com/clinical-llm-workbook/clinical-llm-workbook"
BRANCH = "main"
CLONE_DIR = "/content/workbook"  # kept by "Restart session", gone with a new runtime
INSTALLED = ".requirements-installed"  # marker inside the clone, written after a successful install
SETUP_TAG = "setup"
# What the setup cell never replaces on Colab: pinned to each other there, and to its CUDA build (torch).
KEEP = ("torch", "numpy", "pandas", "pyarrow", "ipykernel")

# Only tests/test_colab.py sets these two variables, to clone a local repository into a temporary folder.
URL_ENV, DIR_ENV = "WORKBOOK_REPO_URL", "WORKBOOK_CLONE_DIR"

SETUP_CELL = f'''# Setup. On Colab: clone the workbook, install what Colab lacks; once per runtime, safe to re-run.
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    # The tests point these two variables at a local repository and a temporary folder.
    url = os.environ.get("{URL_ENV}", "{REPO_URL}")
    folder = os.environ.get("{DIR_ENV}", "{CLONE_DIR}")
    if os.path.isdir(f"{{folder}}/.git"):
        print(f"Reusing the workbook cloned earlier in {{folder}}.")
    else:
        subprocess.run(["git", "clone", "-q", "--depth", "1", "-b", "{BRANCH}", url, folder], check=True)
    if not os.path.exists(f"{{folder}}/{INSTALLED}"):
        print("Installing what the lessons need and Colab lacks (once per runtime)...")
        from importlib import invalidate_caches, metadata

        def versions():
            invalidate_caches()
            return {{d.metadata["Name"].lower(): d.version for d in metadata.distributions()}}

        before = versions()
        held = {KEEP!r}  # Colab's builds: never replaced
        with open(f"{{folder}}/.colab-constraints.txt", "w") as constraints:
            constraints.write("".join(f"{{name}}=={{before[name]}}\\n" for name in held if name in before))
        pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", f"{{folder}}/requirements-colab.txt",
                              "-c", f"{{folder}}/.colab-constraints.txt"], capture_output=True, text=True)
        if pip.returncode:
            print(pip.stdout, pip.stderr, file=sys.stderr)
            raise RuntimeError("Installing the requirements failed: read pip's message above, fix its cause "
                               "(often the network) and run this cell again.")
        after = versions()
        print("added:", ", ".join(f"{{n}} {{v}}" for n, v in sorted(after.items()) if n not in before) or "nothing")
        print("changed:", ", ".join(f"{{n}} {{before[n]}} -> {{v}}" for n, v in sorted(after.items())
                                    if before.get(n, v) != v) or "nothing that Colab ships")
        open(f"{{folder}}/{INSTALLED}", "w").close()
    if folder not in sys.path:
        sys.path.insert(0, folder)
import helpers

rt = helpers.preflight(TRACK, model=MODEL, seed=SEED)  # prints the track, model, device and precision, and why'''


def colab_url(notebook: str) -> str:
    """The Open-in-Colab address of ``notebooks/<notebook>``."""
    slug = REPO_URL.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{slug}/blob/{BRANCH}/notebooks/{notebook}"


def badge(notebook: str) -> str:
    """Markdown for an Open-in-Colab badge linking to ``notebook``."""
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(notebook)})"


def setup_cells(nb) -> list:
    """The cells of ``nb`` (an nbformat notebook) tagged ``setup``."""
    return [c for c in nb.cells if SETUP_TAG in c.get("metadata", {}).get("tags", [])]


def sync(folder: Path) -> list[Path]:
    """Rewrite the setup cell of every notebook in ``folder`` from ``SETUP_CELL``; return those changed."""
    import nbformat

    changed = []
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cells = setup_cells(nb)
        if len(cells) != 1:
            raise SystemExit(f"{path.name} must have exactly one cell tagged '{SETUP_TAG}'.")
        if cells[0].source != SETUP_CELL:
            cells[0].source = SETUP_CELL
            nbformat.write(nb, path)
            changed.append(path)
    return changed


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent / "notebooks"
    for p in sync(root):
        print(f"updated {p}", file=sys.stderr)
