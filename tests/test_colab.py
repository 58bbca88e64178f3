"""The Colab setup cell and badges come from one place (helpers.colab) and stay in sync."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from helpers import colab, translate
from helpers.runner import series

ROOT = Path(__file__).resolve().parent.parent


# the Korean edition (notebooks/ko/) carries the same setup cell; tests/test_translations.py checks the rest of its code
@pytest.mark.parametrize("path", series() + series(translate.KOREAN), ids=lambda p: str(p.relative_to(p.parents[1])))
def test_setup_cell_is_the_canonical_one(path):
    cells = colab.setup_cells(nbformat.read(path, as_version=4))
    assert len(cells) == 1, f"{path.name} needs exactly one cell tagged 'setup'"
    assert cells[0].source == colab.SETUP_CELL, "run `python -m helpers.colab` to resync the setup cell"


@pytest.mark.parametrize("path", series(), ids=lambda p: p.stem)
def test_readme_and_notebook_carry_the_colab_badge(path):
    assert colab.colab_url(path.name) in (ROOT / "README.md").read_text()
    first = nbformat.read(path, as_version=4).cells[0].source
    assert colab.badge(path.name) in first


def test_setup_cell_is_configured_from_one_place():
    cell = colab.SETUP_CELL
    assert colab.REPO_URL in cell and f'"-b", "{colab.BRANCH}"' in cell and colab.CLONE_DIR in cell
    assert '"google.colab" in sys.modules' in cell
    assert "/requirements-colab.txt" in cell and "requirements-dev" not in cell  # the lessons' libraries only


# The setup cell, run for real: its exact text is exec'd in fresh Python processes, as a new Colab kernel would
# (one per "Restart session"). What stands in for Colab: a stub `google.colab` module that the process imports
# first (Colab's kernel has it in sys.modules), a fixture repository cloned from a file:// URL into a temporary
# folder instead of GitHub into /content/workbook (the cell's WORKBOOK_REPO_URL / WORKBOOK_CLONE_DIR), and a stub
# `pip` package found first on PYTHONPATH, so `python -m pip` only records its arguments. The fixture's
# `helpers.preflight` just prints, so the last line runs without loading torch.
STUB_PIP = """import json, os, pathlib, sys
with open(os.environ["STUB_PIP_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if os.environ.get("STUB_PIP_EXIT", "0") == "0":  # "installs" rouge-score and moves numpy, as dist-info folders
    stubs = pathlib.Path(__file__).resolve().parent.parent
    for name, version in (("rouge_score", "0.1.2"), ("numpy", "2.9.0")):
        for old in stubs.glob(f"{name}-*.dist-info"):
            (old / "METADATA").unlink()
            old.rmdir()
        folder = stubs / f"{name}-{version}.dist-info"
        folder.mkdir()
        (folder / "METADATA").write_text(f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n")
sys.exit(int(os.environ.get("STUB_PIP_EXIT", "0")))
"""
STUB_HELPERS = """def preflight(track, seed=0, model=None):
    print(f"preflight {track} {seed} from {__file__}")
"""
KERNEL = """import sys
if sys.argv[2] == "colab":
    import google.colab  # noqa: F401 - on Colab the kernel has imported it before the first cell runs
TRACK, SEED, MODEL = "cpu", 7, None  # what the parameters cell defines
exec(compile(open(sys.argv[1]).read(), "setup cell", "exec"))
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false",
                    *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def colab_like(tmp_path):
    """A function that runs the setup cell in a fresh process, and the paths it uses."""
    source = tmp_path / "source"  # the fixture repository, on branch BRANCH
    _write(source / "requirements-colab.txt", (ROOT / "requirements-colab.txt").read_text())
    _write(source / "helpers" / "__init__.py", STUB_HELPERS)
    _git("init", "-q", cwd=source)
    _git("symbolic-ref", "HEAD", f"refs/heads/{colab.BRANCH}", cwd=source)
    _git("add", ".", cwd=source)
    _git("commit", "-q", "-m", "fixture", cwd=source)
    stubs = tmp_path / "stubs"
    _write(stubs / "google" / "__init__.py", "")
    _write(stubs / "google" / "colab" / "__init__.py", "")
    _write(stubs / "pip" / "__init__.py", "")
    _write(stubs / "pip" / "__main__.py", STUB_PIP)
    _write(stubs / "numpy-2.1.3.dist-info" / "METADATA", "Metadata-Version: 2.1\nName: numpy\nVersion: 2.1.3\n")
    cell = _write(tmp_path / "kernel" / "setup_cell.py", colab.SETUP_CELL)
    kernel = _write(tmp_path / "kernel" / "kernel.py", KERNEL)
    clone, log = tmp_path / "content" / "workbook", tmp_path / "pip.log"

    def run(where: str = "colab", pip_exit: int = 0, pythonpath: Path = stubs) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(pythonpath), colab.URL_ENV: source.as_uri(),
               colab.DIR_ENV: str(clone), "STUB_PIP_LOG": str(log), "STUB_PIP_EXIT": str(pip_exit)}
        # -S: no site-packages, so this checkout's own (editable) helpers is not importable, as on a fresh Colab
        return subprocess.run([sys.executable, "-S", str(kernel), str(cell), where], cwd=kernel.parent, env=env,
                              capture_output=True, text=True, timeout=120)

    def pip_calls() -> list:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return SimpleNamespace(run=run, pip_calls=pip_calls, source=source, clone=clone, stubs=stubs)


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@needs_git
def test_setup_cell_survives_a_restart_without_cloning_or_installing_again(colab_like):
    first = colab_like.run()
    assert first.returncode == 0, first.stderr
    assert f"preflight cpu 7 from {colab_like.clone / 'helpers' / '__init__.py'}" in first.stdout
    assert colab_like.pip_calls() == [["install", "-q", "-r", f"{colab_like.clone}/requirements-colab.txt",
                                       "-c", f"{colab_like.clone}/.colab-constraints.txt"]]
    # Colab's numpy (2.1.3 here) is held by a constraint; the cell reports what pip added and what it moved
    assert (colab_like.clone / ".colab-constraints.txt").read_text() == "numpy==2.1.3\n"
    assert "added: rouge_score 0.1.2\n" in first.stdout and "changed: numpy 2.1.3 -> 2.9.0\n" in first.stdout
    shutil.rmtree(colab_like.source)  # "Restart session": a second clone would now fail
    second = colab_like.run()
    assert second.returncode == 0, second.stderr
    assert f"Reusing the workbook cloned earlier in {colab_like.clone}." in second.stdout
    assert f"from {colab_like.clone / 'helpers' / '__init__.py'}" in second.stdout
    assert len(colab_like.pip_calls()) == 1, "the second run installed again"


@needs_git
def test_setup_cell_says_what_to_do_when_the_install_fails_and_retries_it(colab_like):
    failed = colab_like.run(pip_exit=1)
    assert failed.returncode != 0
    assert "Installing the requirements failed: read pip's message above" in failed.stderr
    assert not (colab_like.clone / colab.INSTALLED).exists()
    again = colab_like.run()
    assert again.returncode == 0, again.stderr
    assert len(colab_like.pip_calls()) == 2 and (colab_like.clone / colab.INSTALLED).exists()


@needs_git
def test_setup_cell_only_imports_helpers_outside_colab(colab_like):
    helpers_here = colab_like.source  # stands for a local checkout with helpers importable
    result = colab_like.run(where="local", pythonpath=helpers_here)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"preflight cpu 7 from {helpers_here / 'helpers' / '__init__.py'}\n"
    assert not colab_like.clone.exists() and colab_like.pip_calls() == []
