"""The Korean edition: each English notebook plus its translation file gives ``notebooks/ko/<notebook>``.

The English notebooks are the source. A Korean notebook has their code cells unchanged and in the same order, and
Korean markdown cells read from ``notebooks/ko/text/<notebook>.md``, one section per English markdown cell::

    <!-- cell 831a315d en:3f2a9c0b1d4e -->
    ## 1. 읽고 학습할 노트
    ...

``831a315d`` is the English cell's id and ``3f2a9c0b1d4e`` a fingerprint of its text (the first 12 hex digits of
its SHA-256). When the English text changes, the fingerprint no longer matches and ``tests/test_translations.py``
fails, naming the notebook and the cell, until the Korean is updated and its fingerprint with it.

``python3 workbook.py translate`` (``python -m helpers.translate``) writes every Korean notebook, or says which cells
need a translator first; for a cell with no section yet it appends one holding the English text between TODO
markers, for the translator to replace. Two changes are mechanical, so a translation keeps the English links as
they are: a relative link one folder up (``../data_cards/...``) gets one more ``../``, because the Korean notebooks
sit one folder deeper, and the Open-in-Colab badge points to the Korean notebook.
"""

from __future__ import annotations

import copy
import hashlib
import re
import sys
from pathlib import Path

from helpers.colab import badge
from helpers.runner import NOTEBOOKS, series

LANGUAGE = "ko"
KOREAN = NOTEBOOKS / LANGUAGE
TEXTS = KOREAN / "text"
MARK = re.compile(r"^<!-- cell (\S+) en:([0-9a-f]{12}) -->[ \t]*$", re.MULTILINE)
TODO_START, TODO_END = "<!-- TODO translate: the English text follows -->", "<!-- TODO end -->"
UP_ONE = re.compile(r"\]\(\.\./")  # a markdown link that starts one folder up


def fingerprint(text: str) -> str:
    """The first 12 hex digits of the SHA-256 of ``text``: what a translation says it translated."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def text_path(notebook: Path) -> Path:
    """The translation file of an English notebook."""
    return TEXTS / f"{notebook.stem}.md"


def korean_path(notebook: Path) -> Path:
    """Where the Korean edition of an English notebook is written."""
    return KOREAN / notebook.name


def read_sections(path: Path) -> dict[str, tuple[str, str]]:
    """``{cell id: (fingerprint, Korean markdown)}`` from a translation file (empty when it does not exist)."""
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    marks = list(MARK.finditer(text))
    sections = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        body = text[mark.end():following.start() if following else len(text)].strip("\n")
        cell_id = mark.group(1)
        if cell_id in sections:
            raise ValueError(f"{path.name}: cell {cell_id} is translated twice; keep one section.")
        sections[cell_id] = (mark.group(2), body)
    return sections


def markdown_cells(nb) -> list:
    """The markdown cells of an nbformat notebook, in order."""
    return [cell for cell in nb.cells if cell.cell_type == "markdown"]


def problems(notebook: Path, nb, sections: dict[str, tuple[str, str]]) -> list[str]:
    """One sentence per English markdown cell that lacks a current translation, and per orphaned section."""
    found, wanted = [], set()
    for cell in markdown_cells(nb):
        wanted.add(cell.id)
        first = cell.source.strip().split("\n", 1)[0][:60]
        where = f"{notebook.name}, markdown cell {cell.id} ({first!r})"
        if cell.id not in sections:
            found.append(f"{where} has no translation in {text_path(notebook).name}.")
            continue
        mark, body = sections[cell.id]
        if TODO_START in body:
            found.append(f"{where} still holds the English text between TODO markers: translate it.")
        elif mark != fingerprint(cell.source):
            found.append(f"{where} changed after it was translated (en:{mark}): update the Korean, then its mark "
                         f"to en:{fingerprint(cell.source)}.")
    for cell_id in sorted(set(sections) - wanted):
        found.append(f"{text_path(notebook).name} translates cell {cell_id}, which {notebook.name} no longer has: "
                     f"remove that section.")
    return found


def localise(body: str, notebook: Path) -> str:
    """The two mechanical changes: relative links one folder deeper, the Colab badge to the Korean notebook."""
    body = UP_ONE.sub("](../../", body)
    return body.replace(badge(notebook.name), badge(f"{LANGUAGE}/{notebook.name}"))


def korean_notebook(notebook: Path, nb, sections: dict[str, tuple[str, str]]):
    """The Korean edition of ``nb``: the same cells, ids and metadata, Korean markdown, no outputs."""
    found = problems(notebook, nb, sections)
    if found:
        raise ValueError(" ".join(found))
    korean = copy.deepcopy(nb)
    for cell in korean.cells:
        if cell.cell_type == "markdown":
            cell.source = localise(sections[cell.id][1], notebook)
        elif cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return korean


def append_todo_sections(notebook: Path, nb, sections: dict[str, tuple[str, str]]) -> int:
    """Append a TODO section holding the English text for each markdown cell with none; return how many."""
    missing = [cell for cell in markdown_cells(nb) if cell.id not in sections]
    if missing:
        path = text_path(notebook)
        path.parent.mkdir(parents=True, exist_ok=True)
        old = path.read_text(encoding="utf-8").rstrip("\n") + "\n\n" if path.exists() else ""
        new = "\n\n".join(f"<!-- cell {cell.id} en:{fingerprint(cell.source)} -->\n{TODO_START}\n{cell.source}\n"
                          f"{TODO_END}" for cell in missing)
        path.write_text(old + new + "\n", encoding="utf-8")
    return len(missing)


def build(folder: Path = NOTEBOOKS) -> tuple[list[Path], list[str]]:
    """Write every Korean notebook whose translation is current; return (written, problems)."""
    import nbformat

    written, found = [], []
    for notebook in series(folder):
        nb = nbformat.read(notebook, as_version=4)
        sections = read_sections(text_path(notebook))
        if append_todo_sections(notebook, nb, sections):
            sections = read_sections(text_path(notebook))
        issues = problems(notebook, nb, sections)
        if issues:
            found += issues
            continue
        target = korean_path(notebook)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = nbformat.writes(korean_notebook(notebook, nb, sections)) + "\n"
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            written.append(target)
    return written, found


def main() -> int:
    written, found = build()
    for path in written:
        print(f"wrote {path.relative_to(NOTEBOOKS.parent)}")
    for sentence in found:
        print(sentence, file=sys.stderr)
    if found:
        print(f"{len(found)} cell(s) need a translator (the files are in {TEXTS.relative_to(NOTEBOOKS.parent)}/); "
              "the other Korean notebooks are current.", file=sys.stderr)
        return 1
    print("every Korean notebook is current" + ("" if written else " (nothing changed)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
