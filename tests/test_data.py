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


def _shows_no_library_traceback(err: BaseException) -> bool:
    """True when Python will print no chained traceback from the library under the WorkbookError."""
    return err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)


@pytest.fixture
def online(monkeypatch):
    """No offline switch in the environment (so each test decides what the Hub does)."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)


def _fake_hub(monkeypatch, result) -> None:
    """Make ``datasets.load_dataset`` raise ``result`` (an exception) or return it (a table)."""
    import datasets

    def load_dataset(*args, **kwargs):
        if isinstance(result, BaseException):
            raise result
        return datasets.Dataset.from_pandas(result, preserve_index=False)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)


def _http(cls, code: int, message: str = "Client Error"):
    """A real huggingface_hub HTTP error that carries status ``code``."""
    import httpx2

    request = httpx2.Request("GET", f"https://huggingface.co/api/datasets/{data.HUB_DATASET}")
    return cls(message, response=httpx2.Response(code, request=request))


def _hub_failures():
    """(real exception the libraries raise, words the one-sentence error must contain)."""
    import datasets.exceptions as dx
    import httpx2
    import requests
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    connection = "check the internet connection"
    refused = "not found, gated or unauthorized"
    versions = "pip install -r requirements.txt"
    return [
        (ConnectionError(f"Couldn't reach '{data.HUB_DATASET}' on the Hub (LocalEntryNotFoundError)"), connection),
        (httpx2.ConnectError("[Errno -2] Name or service not known"), connection),
        (requests.exceptions.ConnectionError("Max retries exceeded"), connection),  # older huggingface_hub
        (requests.exceptions.ReadTimeout("Read timed out"), connection),
        (_http(RepositoryNotFoundError, 401, "401 Client Error. Repository Not Found"), f"{refused} (HTTP 401)"),
        (_http(GatedRepoError, 403, "403 Client Error. Cannot access gated repo"), f"{refused} (HTTP 403)"),
        (_http(HfHubHTTPError, 404, "404 Client Error"), f"{refused} (HTTP 404)"),
        (dx.DatasetNotFoundError(f"Dataset '{data.HUB_DATASET}' doesn't exist on the Hub or cannot be accessed."),
         f"{refused} (DatasetNotFoundError)"),
        (_http(HfHubHTTPError, 503, "503 Server Error"), "answered HTTP 503"),
        (ValueError("Feature type 'List' not found"), "(ValueError: Feature type 'List' not found), which usually"),
        (TypeError("__init__() got an unexpected keyword argument 'trust_remote_code'"), versions),
        (ImportError("cannot import name 'HfFolder' from 'huggingface_hub'"), versions),
        (dx.DatasetGenerationError("An error occurred while generating the dataset"), versions),
        (RuntimeError("Something new hf_abcdefghijklmnop\nFile 'deep/inside.py', line 9"),
         "(RuntimeError: Something new ***)"),
    ]


def test_hub_failures_are_one_sentence_that_says_what_to_do(online, monkeypatch):
    for error, expected in _hub_failures():
        _fake_hub(monkeypatch, error)
        with pytest.raises(WorkbookError) as err:
            data.load_notes("hub")
        message = str(err.value)
        assert expected in message and "\n" not in message and "hf_abc" not in message, message
        assert _shows_no_library_traceback(err.value) and message.endswith(".") and data.HUB_DATASET in message


def test_hub_failure_kinds_give_different_advice(online, monkeypatch):
    advice = set()
    for error, _ in _hub_failures():
        _fake_hub(monkeypatch, error)
        with pytest.raises(WorkbookError) as err:
            data.load_notes("hub")
        advice.add(str(err.value).split(": ")[-1])
    assert len(advice) >= 5  # offline, refused, busy, versions, unknown: never one catch-all sentence


def test_hub_offline_mode_with_the_real_library(monkeypatch, tmp_path):
    import datasets
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # both libraries read the variable at import time
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path)
    with pytest.raises(WorkbookError) as err:
        data.load_notes("hub")
    assert str(err.value).startswith(f"HF_HUB_OFFLINE is set, so {data.HUB_DATASET} cannot be downloaded")
    assert "unset it" in str(err.value) and "DATA_SOURCE" in str(err.value)


def test_hub_table_names_the_note_column_patient(online, monkeypatch, capsys, qa_table):
    hub = qa_table.rename(columns={"note": "patient"})
    hub.loc[3, "answer"] = "   "
    _fake_hub(monkeypatch, hub)
    df = data.load_notes("hub")
    assert df["note"].tolist() == qa_table.drop(index=3)["note"].tolist() and "patient" not in df.columns
    assert df["patient_id"].tolist() == qa_table.drop(index=3)["patient_id"].tolist()
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{data.HUB_DATASET}: using its column 'patient' (the note text, as the Asclepius CSV names it) "
                   "as 'note'.",
                   f"{data.HUB_DATASET}: dropped 1 of 12 rows with an empty note, question or answer."]
    _fake_hub(monkeypatch, qa_table.assign(patient="not the note"))  # a real note column wins over patient
    df = data.load_notes("hub")
    assert df["note"].tolist() == qa_table["note"].tolist() and (df["patient"] == "not the note").all()
    _fake_hub(monkeypatch, qa_table.drop(columns="note"))  # patient_id is not the note
    with pytest.raises(WorkbookError, match=r"missing column\(s\) note"):
        data.load_notes("hub")
    assert capsys.readouterr().out == ""


def test_csv_rows_with_empty_text_are_dropped_and_counted(tmp_path, qa_table, capsys):
    table = qa_table.astype(object)
    table.loc[0, "note"], table.loc[5, "question"], table.loc[7, "answer"] = None, " \t ", ""
    table.loc[9, "answer"] = "None"  # a real answer, not a missing one
    path = tmp_path / "gaps.csv"
    table.to_csv(path, index=False)
    df = data.load_notes(str(path))
    assert len(df) == 9 and df["answer"].tolist().count("None") == 1
    assert capsys.readouterr().out == f"{path}: dropped 3 of 12 rows with an empty note, question or answer.\n"
    table["answer"] = ""
    table.to_csv(path, index=False)
    with pytest.raises(WorkbookError, match="has no row with a non-empty note, question and answer"):
        data.load_notes(str(path))
    data.load_notes("synthetic", n_notes=20)
    assert capsys.readouterr().out == ""  # nothing to drop: nothing printed


@pytest.mark.parametrize("content, expected", [
    ("patient_id,note,question,answer,task\nP1,Pt with caf\xe9 au lait spots,Q?,A.,QA\n".encode("cp1252"),
     "is not UTF-8 text"),
    ("patient_id,note\nP1,x\n".encode("utf-16"), "is not UTF-8 text"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "is not UTF-8 text"),
    (b"", "is empty"),
    (b'patient_id,note,question,answer,task\nP1,"unterminated,Q?,A.,QA\n', "is not a well-formed CSV (EOF inside"),
    (b"patient_id,note\nP1,x\nP2,y,z,w\n", "is not a well-formed CSV (Expected 2 fields in line 3, saw 4)"),
])
def test_unreadable_csv_is_one_sentence(tmp_path, content, expected):
    path = tmp_path / "notes.csv"
    path.write_bytes(content)
    with pytest.raises(WorkbookError) as err:
        data.load_notes(str(path))
    message = str(err.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message, message
    assert _shows_no_library_traceback(err.value)
