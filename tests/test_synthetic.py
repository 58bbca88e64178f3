"""Tests for helpers.synthetic: determinism, schema, leak-free admission view, labels, answers."""

from __future__ import annotations

import re
import time
from datetime import date

import pandas as pd
import pytest

from helpers import synthetic as S

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """The default set: 3,000 notes, two QA pairs each."""
    return S.generate_notes()


@pytest.fixture(scope="module")
def notes(rows) -> pd.DataFrame:
    """One row per note."""
    return rows.drop_duplicates("patient_id").reset_index(drop=True)


def _items(answer: str) -> list[str]:
    """The '; '-separated list after the first ': ' of a Named Entity Recognition answer."""
    return answer.split(": ", 1)[1].rstrip(".").split("; ")


def test_public_constants():
    assert S.TASKS == ("Named Entity Recognition", "Abbreviation Expansion", "Relation Extraction",
                       "Temporal Information Extraction", "Coreference Resolution", "Paraphrasing",
                       "Summarization", "Question Answering")
    assert S.LOS_BUCKETS == ("<=3 days", "3-7 days", "7-14 days", ">14 days")
    assert 30 <= len(S.DIAGNOSIS_CODES) <= 45 and 20 <= len(S.PROCEDURE_CODES) <= 30
    assert {"96.71", "96.72", "38.93", "88.72", "45.13", "99.04"} <= set(S.PROCEDURE_CODES)
    assert set(S.CODE_NAMES) == set(S.DIAGNOSIS_CODES) | set(S.PROCEDURE_CODES)
    assert all(t == t.lower() for t in S.BANNED_ADMISSION_TERMS)


@pytest.mark.parametrize(("days", "bucket"), [(1, 0), (3, 0), (4, 1), (7, 1), (8, 2), (14, 2),
                                              (15, 3), (40, 3)])
def test_los_bucket_rule(days, bucket):
    assert S.los_bucket(days) == bucket


def test_same_seed_same_frame_and_other_seed_differs():
    a, b = S.generate_notes(200, seed=7), S.generate_notes(200, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert not a["note"].equals(S.generate_notes(200, seed=8)["note"])


def test_notes_do_not_depend_on_n_notes_or_qa_per_note(notes):
    small = S.generate_notes(50, qa_per_note=1)
    pd.testing.assert_frame_equal(small.drop(columns=["question", "answer", "task"]),
                                  notes.head(50).drop(columns=["question", "answer", "task"]))


def test_shape_columns_and_dtypes(rows, notes):
    assert list(rows.columns) == list(S.COLUMNS)
    assert len(rows) == 3000 * 2 and rows["patient_id"].nunique() == len(notes) == 3000
    assert notes["patient_id"].iloc[0] == "SYN-000001"
    assert rows["patient_id"].is_monotonic_increasing
    for col in ("mortality", "prolonged_mv", "los_days", "los_bucket"):
        assert pd.api.types.is_integer_dtype(rows[col]), col
    for col in ("patient_id", "note", "question", "answer", "task", "admission_note", "diagnoses",
                "procedures"):
        assert rows[col].map(type).eq(str).all(), col
    assert set(rows["mortality"]) == set(rows["prolonged_mv"]) == {0, 1}
    assert (rows["los_days"] >= 1).all() and (notes["diagnoses"] != "").all()


@pytest.mark.parametrize("qa_per_note", [1, 8])
def test_row_count_follows_qa_per_note(qa_per_note):
    df = S.generate_notes(20, qa_per_note=qa_per_note)
    assert len(df) == 20 * qa_per_note and df["patient_id"].nunique() == 20


def test_tasks_spread_evenly_and_distinct_within_a_note(rows):
    counts = rows["task"].value_counts()
    assert set(counts.index) == set(S.TASKS)
    assert counts.min() >= 0.8 * len(rows) / len(S.TASKS)
    assert rows.groupby("patient_id")["task"].nunique().eq(2).all()


def test_answers_are_short_to_medium(rows):
    words = rows["answer"].str.split().str.len()
    assert words.min() >= 3 and words.max() <= 90 and 5 <= words.median() <= 60


def test_admission_view_has_no_banned_terms(notes):
    text = notes["admission_note"].str.lower()
    leaks = {t: int(text.str.contains(t, regex=False).sum()) for t in S.BANNED_ADMISSION_TERMS}
    assert not any(leaks.values()), leaks


def test_admission_view_is_contained_section_by_section(notes):
    for note, view in zip(notes["note"], notes["admission_note"], strict=True):
        blocks = view.split("\n\n")
        assert len(blocks) == 5 and all(block in note for block in blocks)


def test_label_rates_are_in_target_ranges(notes):
    assert 0.08 <= notes["mortality"].mean() <= 0.15
    assert 0.10 <= notes["prolonged_mv"].mean() <= 0.20
    shares = notes["los_bucket"].value_counts(normalize=True)
    assert set(shares.index) == {0, 1, 2, 3} and shares.min() >= 0.05
    assert notes["los_bucket"].equals(notes["los_days"].map(S.los_bucket))


def test_codes_are_known_and_used(notes):
    for col, known in (("diagnoses", S.DIAGNOSIS_CODES), ("procedures", S.PROCEDURE_CODES)):
        lists = notes[col].str.split(";").map(lambda codes: [c for c in codes if c])
        share = pd.Series([c for codes in lists for c in codes]).value_counts() / len(notes)
        assert set(share.index) <= set(known), col
        assert set(share.index) == set(known), f"{col}: unused {set(known) - set(share.index)}"
        assert (share >= 0.01).mean() >= 0.9, col


def test_note_agrees_with_labels(notes):
    for row in notes.itertuples():
        codes = set(row.procedures.split(";"))
        vented = bool(codes & {"96.71", "96.72"})
        text = row.note.lower()
        if row.prolonged_mv:
            assert "96.72" in codes
        assert vented == ("mechanical ventilation" in text), row.patient_id
        assert ("expired" in text or "died" in text) == bool(row.mortality), row.patient_id
        assert ("disposition: expired" in text) == bool(row.mortality), row.patient_id
        assert ("medications on discharge" in text or "discharge medications" in text) != bool(
            row.mortality)
        admit, end = (date.fromisoformat(d) for d in DATE.findall(row.note)[:2])
        assert (end - admit).days == row.los_days, row.patient_id
        for code in row.diagnoses.split(";") + [c for c in codes if c]:
            assert S.CODE_NAMES[code] in row.note, (row.patient_id, code)


def test_answers_are_grounded_in_the_note(rows):
    for row in rows.itertuples():
        if row.task == "Abbreviation Expansion":
            abbr = re.search(r"'([^']+)'", row.question).group(1)
            assert re.search(rf"(?<![\w&/]){re.escape(abbr)}(?![\w&/])", row.note), abbr
        elif row.task == "Named Entity Recognition":
            assert all(item in row.note for item in _items(row.answer)), row.answer
        elif row.task == "Temporal Information Extraction":
            assert all(d in row.note for d in DATE.findall(row.answer)), row.answer
        elif row.task in ("Coreference Resolution", "Paraphrasing"):
            quoted = (re.search(r'"(.+)"', row.question) or re.search(r"'(.+)'", row.question))[1]
            assert quoted in row.note, quoted


def test_admission_view_predicts_mortality_above_chance():
    pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    df = S.generate_notes(3000, seed=1, qa_per_note=1)
    train, test = df.iloc[:2000], df.iloc[2000:]
    vectorizer = CountVectorizer(binary=True, min_df=2)
    model = LogisticRegression(C=0.3, max_iter=2000)
    model.fit(vectorizer.fit_transform(train["admission_note"]), train["mortality"])
    scores = model.predict_proba(vectorizer.transform(test["admission_note"]))[:, 1]
    assert 0.6 <= roc_auc_score(test["mortality"], scores) <= 0.95


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_notes": 0}, "n_notes must be"), ({"n_notes": 2.5}, "n_notes must be"),
    ({"qa_per_note": 0}, "qa_per_note must be"), ({"qa_per_note": 9}, "qa_per_note must be"),
])
def test_bad_arguments_raise_one_clear_sentence(kwargs, message):
    with pytest.raises(ValueError, match=message):
        S.generate_notes(**kwargs)


def test_3000_notes_generate_quickly():
    start = time.perf_counter()
    S.generate_notes(3000)
    assert time.perf_counter() - start < 10
