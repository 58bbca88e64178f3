"""The general-domain text the CPU track's base model is pretrained on: deterministic, and never clinical notes."""

from __future__ import annotations

import re

from helpers import general
from helpers import synthetic_vocab as V


def test_same_text_for_the_same_seed_and_different_for_another():
    assert general.general_texts(50, seed=0) == general.general_texts(50, seed=0)
    assert general.general_texts(50, seed=0) != general.general_texts(50, seed=1)
    assert general.general_texts(10) == general.general_texts(50)[:10]  # a prefix does not depend on n


EVERYDAY_MEANINGS = {"HD": "high definition, as in an HD television"}  # also 'hospital day' in the notes


def test_no_clinical_shorthand_or_note_layout_in_the_general_text():
    text = "\n".join(general.general_texts(2000))
    def used(abbreviation: str) -> bool:
        return re.search(rf"(?<![\w/]){re.escape(abbreviation)}(?![\w/])", text) is not None

    shorthand = [a for a in V.ABBREVIATIONS if len(a) >= 2 and a not in EVERYDAY_MEANINGS and used(a)]
    assert not shorthand, f"clinical shorthand in the general text: {shorthand[:10]}"
    headers = {h for options in V.HEADERS.values() for h in options}
    assert not [h for h in headers if f"{h}:" in text], "note section headers in the general text"
    assert "[note start]" not in text and "Output:" not in text  # nor the fine-tuning prompt


def test_the_plain_words_of_medicine_are_lower_case_words_not_shorthand():
    words = general.WORDS_OF_MEDICINE
    assert len(words) > 300 and all(w.isalpha() and w.islower() for w in words)
    assert not set(words) & set(V.ABBREVIATIONS)
