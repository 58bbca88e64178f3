"""The Colab setup cell and badges come from one place (helpers.colab) and stay in sync."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from helpers import colab
from helpers.runner import series

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("path", series(), ids=lambda p: p.stem)
def test_setup_cell_is_the_canonical_one(path):
    cells = colab.setup_cells(nbformat.read(path, as_version=4))
    assert len(cells) == 1, f"{path.name} needs exactly one cell tagged 'setup'"
    assert cells[0].source == colab.SETUP_CELL, "run `python -m helpers.colab` to resync the setup cell"


@pytest.mark.parametrize("path", series(), ids=lambda p: p.stem)
def test_readme_and_notebook_carry_the_colab_badge(path):
    assert colab.colab_url(path.name) in (ROOT / "README.md").read_text()
    first = nbformat.read(path, as_version=4).cells[0].source
    assert colab.badge(path.name) in first


def test_setup_cell_installs_only_on_colab():
    assert '"google.colab" in sys.modules' in colab.SETUP_CELL
    assert 'find_spec("helpers") is None' in colab.SETUP_CELL
    assert colab.REPO_URL in colab.SETUP_CELL and "requirements.txt" in colab.SETUP_CELL
