"""Colab plumbing configured in one place: the repository URL, the notebooks' setup cell, the badges.

Change ``REPO_URL``/``BRANCH`` here, then run ``python -m helpers.colab`` to rewrite every notebook's
setup cell; ``tests/test_colab.py`` fails while a notebook or the README is out of sync.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_URL = "https://github.com/clinical-llm-workbook/clinical-llm-workbook"
BRANCH = "main"
SETUP_TAG = "setup"

SETUP_CELL = f'''# Setup. On Colab only: fetch the workbook and install its pinned requirements (once per runtime).
import importlib.util, subprocess, sys
if "google.colab" in sys.modules and importlib.util.find_spec("helpers") is None:
    subprocess.run(["git", "clone", "-q", "--depth", "1", "-b", "{BRANCH}", "{REPO_URL}", "/content/workbook"],
                   check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", "/content/workbook/requirements.txt"],
                   check=True)
    sys.path.insert(0, "/content/workbook")
import helpers
rt = helpers.preflight(TRACK, seed=SEED)  # prints which track, device and precision, and why'''


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
