"""The Korean edition stays in step with the English notebooks (helpers/translate.py).

Each test names the notebook and the cell it fails on. The English notebooks are the source: a Korean notebook
is their code, unchanged and in order, plus the translations in notebooks/ko/text/, regenerated with
``python3 workbook.py translate``.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
import pytest

from helpers import colab, translate
from helpers.runner import series

ROOT = Path(__file__).resolve().parent.parent
ENGLISH = series()
HANGUL = re.compile(r"[\uac00-\ud7a3]")
CODE_SPAN = re.compile(r"`([^`]+)`")
NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def english_and_korean(path: Path):
    """The English notebook, its translation sections and its committed Korean edition."""
    korean = translate.korean_path(path)
    assert korean.exists(), f"{korean.relative_to(ROOT)} is missing: run `python3 workbook.py translate`"
    return (nbformat.read(path, as_version=4), translate.read_sections(translate.text_path(path)),
            nbformat.read(korean, as_version=4))


def headings(markdown: str) -> list[str]:
    """Each heading's level and leading number: ``['## 3.', '###']``."""
    return [re.match(r"#+(?: [\d.]+(?= ))?", line).group(0) for line in markdown.splitlines() if line.startswith("#")]


def prose(markdown: str) -> str:
    """Markdown without code spans, links' targets and HTML comments: the words a reader reads."""
    markdown = re.sub(r"<!--.*?-->", "", markdown, flags=re.DOTALL)
    return LINK.sub("]", CODE_SPAN.sub("", markdown))


@pytest.mark.parametrize("path", ENGLISH, ids=lambda p: p.stem)
def test_every_english_markdown_cell_has_a_current_translation(path):
    nb, sections, _ = english_and_korean(path)
    found = translate.problems(path, nb, sections)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("path", ENGLISH, ids=lambda p: p.stem)
def test_korean_code_cells_are_the_english_ones_character_for_character(path):
    nb, _, korean = english_and_korean(path)
    kinds = [(c.cell_type, c.id) for c in nb.cells]
    assert [(c.cell_type, c.id) for c in korean.cells] == kinds, f"{path.name}: the Korean cells are not in step"
    for english, ko in zip(nb.cells, korean.cells, strict=True):
        if english.cell_type == "code":
            assert ko.source == english.source, f"{path.name}, code cell {english.id}: the Korean edition differs"
            assert ko.metadata == english.metadata, f"{path.name}, code cell {english.id}: its tags differ"
            assert not ko.outputs and ko.execution_count is None, f"ko/{path.name} is committed with outputs"


@pytest.mark.parametrize("path", ENGLISH, ids=lambda p: p.stem)
def test_korean_notebook_is_what_the_generator_writes(path):
    nb, sections, korean = english_and_korean(path)
    expected = translate.korean_notebook(path, nb, sections)
    for want, have in zip(expected.cells, korean.cells, strict=True):
        assert have.source == want.source, (f"ko/{path.name}, cell {want.id} differs from its translation: edit "
                                            f"{translate.text_path(path).name}, then run `workbook.py translate`")


@pytest.mark.parametrize("path", ENGLISH, ids=lambda p: p.stem)
def test_translations_keep_numbers_code_and_links(path):
    nb, sections, _ = english_and_korean(path)
    for cell in translate.markdown_cells(nb):
        ko = sections[cell.id][1]
        where = f"{path.name}, markdown cell {cell.id}"
        missing = [s for s in CODE_SPAN.findall(cell.source) if f"`{s}`" not in ko]
        assert not missing, f"{where}: code is never translated, but these spans are missing: {missing}"
        numbers = set(NUMBER.findall(prose(cell.source))) - set(NUMBER.findall(prose(ko)))
        assert not numbers, f"{where}: numbers stay as they are, but the translation lacks {sorted(numbers)}"
        links = set(LINK.findall(cell.source)) - set(LINK.findall(ko))
        assert not links, f"{where}: the translation lacks the links {sorted(links)}"
        if len(re.findall(r"[A-Za-z]", prose(cell.source))) > 40:
            assert HANGUL.search(prose(ko)), f"{where} is not translated: its text has no Korean"
        # the same headings, at the same levels, with the same numbers; and no paragraph left out (Korean runs at
        # 0.50-0.76 of the English characters in these files; a dropped paragraph takes a cell well below 0.4)
        assert headings(ko) == headings(cell.source), f"{where}: the headings differ from the English ones"
        if len(cell.source) > 300:
            assert len(ko) > 0.4 * len(cell.source), f"{where}: the translation is short; is a paragraph missing?"


def unrendered_stars(markdown: str) -> int:
    """How many ``*`` a CommonMark renderer leaves as text, outside code: emphasis that did not render."""
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable("table").render(markdown)
    return re.sub(r"<code>.*?</code>", "", html, flags=re.DOTALL).count("*")


@pytest.mark.parametrize("path", ENGLISH, ids=lambda p: p.stem)
def test_korean_emphasis_renders(path):
    """CommonMark does not close ``**토큰 id(token id)**`` before a Hangul letter (a ``)`` before ``**`` and a
    letter after it), so a particle right after bold text must follow a letter: ``**토큰 id**(token id)입니다``."""
    nb, sections, _ = english_and_korean(path)
    for cell in translate.markdown_cells(nb):
        ko = sections[cell.id][1]
        assert unrendered_stars(ko) <= unrendered_stars(cell.source), (
            f"{path.name}, markdown cell {cell.id}: some emphasis shows as literal '*'; put the parenthesis after the "
            f"closing '*' or '**'")


@pytest.mark.parametrize("path", ENGLISH, ids=lambda p: p.stem)
def test_korean_links_resolve_and_the_badge_opens_the_korean_notebook(path):
    _, _, korean = english_and_korean(path)
    folder = translate.korean_path(path).parent
    for cell in translate.markdown_cells(korean):
        for target in LINK.findall(cell.source):
            if "://" in target or target.startswith("#"):
                continue
            assert (folder / target.split("#")[0]).exists(), f"ko/{path.name}, cell {cell.id}: {target} is broken"
    assert colab.badge(f"{translate.LANGUAGE}/{path.name}") in korean.cells[0].source
    assert colab.badge(path.name) not in korean.cells[0].source
    text = "\n".join(c.source for c in translate.markdown_cells(korean))
    for heading in ("## 요약", "## 연습 문제"):
        assert f"\n{heading}\n" in f"\n{text}\n", f"ko/{path.name} lacks the heading {heading}"


@pytest.mark.parametrize("path", ENGLISH, ids=lambda p: p.stem)
def test_readme_opens_each_korean_notebook_in_colab(path):
    name = f"{translate.LANGUAGE}/{path.name}"
    for readme in ("README.md", "README.ko.md"):
        assert colab.colab_url(name) in (ROOT / readme).read_text(encoding="utf-8"), f"{readme} lacks {name}"


def test_a_changed_english_cell_fails_naming_the_notebook_and_the_cell(tmp_path):
    """The staleness check can fail: change one English sentence and see it caught, and caught again after."""
    path = ENGLISH[0]
    nb, sections, _ = english_and_korean(path)
    assert not translate.problems(path, nb, sections)
    changed = copy.deepcopy(nb)
    cell = translate.markdown_cells(changed)[1]
    cell.source += "\nOne more English sentence."
    found = translate.problems(path, changed, sections)
    assert len(found) == 1 and path.name in found[0] and cell.id in found[0] and "changed after" in found[0]
    with pytest.raises(ValueError, match=cell.id):
        translate.korean_notebook(path, changed, sections)
    new = translate.markdown_cells(changed)[0]
    new.id = "c0ffee00"  # a cell with no translation at all
    assert any("c0ffee00" in s and "no translation" in s for s in translate.problems(path, changed, sections))


def test_a_new_cell_gets_a_todo_section_that_fails_until_translated(tmp_path, monkeypatch):
    path = ENGLISH[0]
    monkeypatch.setattr(translate, "TEXTS", tmp_path)
    nb = nbformat.read(path, as_version=4)
    assert translate.append_todo_sections(path, nb, {}) == len(translate.markdown_cells(nb))
    sections = translate.read_sections(translate.text_path(path))
    assert set(sections) == {c.id for c in translate.markdown_cells(nb)}
    found = translate.problems(path, nb, sections)
    assert len(found) == len(sections) and all("TODO" in s for s in found)


def test_the_generator_moves_links_one_folder_down_and_points_the_badge_home():
    path = ENGLISH[0]
    text = f"{colab.badge(path.name)} see [card](../data_cards/x.md) and [next](02_x.ipynb)"
    out = translate.localise(text, path)
    assert "(../../data_cards/x.md)" in out and "(02_x.ipynb)" in out
    assert colab.badge(f"ko/{path.name}") in out

