"""Loading, schema validation, length filters and the patient-level split."""

from __future__ import annotations

import pytest

from helpers import data
from helpers.runtime import WorkbookError


def test_schema_error_names_missing_columns(qa_table):
    with pytest.raises(WorkbookError) as err:
        data.validate_schema(qa_table.drop(columns=["answer", "task"]), source="my.csv")
    message = str(err.value)
    assert "my.csv is missing column(s) answer, task" in message and "\n" not in message


def test_local_csv_in_asclepius_schema(tmp_path, qa_table):
    path = tmp_path / "asclepius.csv"
    qa_table.assign(extra=1).to_csv(path, index=False)
    df = data.load_notes(str(path))
    assert len(df) == len(qa_table) and set(data.REQUIRED_COLUMNS) <= set(df.columns)
    assert df["patient_id"].map(type).eq(str).all()


def test_csv_with_wrong_columns_is_one_sentence(tmp_path, qa_table):
    path = tmp_path / "bad.csv"
    qa_table.rename(columns={"note": "text"}).to_csv(path, index=False)
    with pytest.raises(WorkbookError, match=r"missing column\(s\) note"):
        data.load_notes(str(path))


def test_missing_file_is_one_sentence():
    with pytest.raises(WorkbookError, match="neither 'synthetic', 'hub' nor an existing CSV"):
        data.load_notes("/no/such/file.csv")


def test_synthetic_source_matches_schema():
    df = data.load_notes("synthetic", n_notes=50)
    assert set(data.REQUIRED_COLUMNS) <= set(df.columns) and df["patient_id"].nunique() == 50


def test_no_patient_in_two_splits():
    df = data.load_notes("synthetic", n_notes=1000)
    splits = data.split_by_patient(df)
    ids = {name: set(part["patient_id"]) for name, part in splits.items()}
    assert not (ids["train"] & ids["validation"]) and not (ids["train"] & ids["test"])
    assert not (ids["validation"] & ids["test"])
    assert sum(len(p) for p in splits.values()) == len(df)
    share = len(ids["train"]) / df["patient_id"].nunique()
    assert 0.75 < share < 0.85


def test_split_of_a_patient_does_not_depend_on_the_rest(qa_table):
    whole = data.split_by_patient(qa_table)
    half = data.split_by_patient(qa_table[qa_table["patient_id"].isin(["P0", "P1", "P2"])])
    for name in data.SPLITS:
        assert set(half[name]["patient_id"]) <= set(whole[name]["patient_id"])


def test_bad_fractions_are_one_sentence(qa_table):
    with pytest.raises(WorkbookError, match="sum to 1"):
        data.split_by_patient(qa_table, fractions=(0.5, 0.5, 0.5))


def test_character_filter(qa_table):
    kept = data.filter_by_chars(qa_table, max_note_chars=60)
    assert kept["note"].str.len().max() <= 60 and 0 < len(kept) < len(qa_table)


def test_token_filter_counts_note_question_and_answer(qa_table, small_lm):
    _, tokenizer = small_lm
    lengths = data.token_lengths(qa_table, tokenizer)
    limit = int(lengths.median())
    kept = data.filter_by_tokens(qa_table, tokenizer, limit)
    assert len(kept) == int((lengths <= limit).sum()) and data.token_lengths(kept, tokenizer).max() <= limit
    with pytest.raises(WorkbookError, match="positive number of tokens"):
        data.filter_by_tokens(qa_table, tokenizer, 0)


def test_notes_table_has_one_row_per_patient(qa_table):
    assert len(data.notes_table(qa_table)) == qa_table["patient_id"].nunique()
