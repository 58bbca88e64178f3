"""Load, validate, filter and split clinical note QA data (introduced in notebook 01; used by 03-05).

Three sources, one schema (``patient_id, note, question, answer, task``):

* ``"synthetic"``: the bundled, deterministic synthetic notes (CPU track, offline);
* ``"hub"``: ``starmpcc/Asclepius-Synthetic-Clinical-Notes`` from the Hugging Face Hub (GPU track);
* a path to a local CSV in the Asclepius schema (for example a downloaded copy of the Hub data).

The Hub's CSV calls the note column ``patient``; it is renamed to ``note`` when there is no ``note`` column. Rows with
an empty note, question or answer are dropped, with one printed line saying how many.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from .runtime import WorkbookError

HUB_DATASET = "starmpcc/Asclepius-Synthetic-Clinical-Notes"
REQUIRED_COLUMNS = ("patient_id", "note", "question", "answer", "task")
TEXT_COLUMNS = ("note", "question", "answer")
NOTE_ALIAS = "patient"  # the Hub's name for the note text (not ``patient_id``)
LOCAL_COPY = "set DATA_SOURCE to the path of a downloaded copy of its CSV, or set TRACK='cpu'"  # ends a sentence
SPLITS = ("train", "validation", "test")


def validate_schema(df: pd.DataFrame, required=REQUIRED_COLUMNS, source: str = "the data") -> pd.DataFrame:
    """Return ``df`` if it has every required column, else raise one sentence naming the missing ones."""
    missing = [c for c in required if c not in df.columns]
    if missing:
        have = ", ".join(map(str, df.columns)) or "no columns"
        raise WorkbookError(
            f"{source} is missing column(s) {', '.join(missing)} (it has: {have}); rename your columns "
            f"to the schema {', '.join(required)}."
        )
    if df.empty:
        raise WorkbookError(f"{source} has no rows: point DATA_SOURCE at a file with data.")
    return df


def _classes(*names: str) -> tuple[type, ...]:
    """The exception classes named "module:Class" that this installation has (they move between versions)."""
    found = []
    for name in names:
        module, _, attr = name.partition(":")
        try:
            found.append(getattr(importlib.import_module(module), attr))
        except (ImportError, AttributeError):
            pass
    return tuple(found)


def _chain(err: BaseException) -> Iterator[BaseException]:
    """``err`` and the exceptions it was raised from or during, innermost last."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def http_status(err: BaseException) -> int | None:
    """The HTTP status code of the first exception in the chain that carries a response, else None."""
    for e in _chain(err):
        code = getattr(getattr(e, "response", None), "status_code", None)
        if isinstance(code, int):
            return code
    return None


def connection_failed(err: BaseException) -> bool:
    """True when ``err`` (or what it was raised from) means the network or the Hub could not be reached."""
    network = (ConnectionError, TimeoutError, *_classes(
        "httpx2:TransportError", "httpx:TransportError", "requests.exceptions:ConnectionError",
        "requests.exceptions:Timeout", "huggingface_hub.errors:LocalEntryNotFoundError"))
    return any(isinstance(e, network) for e in _chain(err))


def _offline_switch() -> str | None:
    """The environment variable that puts the Hugging Face libraries in offline mode, if one does."""
    names = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    return next((n for n in names if os.environ.get(n, "").strip().upper() in ("1", "ON", "YES", "TRUE")), None)


def _reason(err: BaseException, status: int | None) -> str:
    """``HTTP 404`` when the error carries a status code, else the exception's type name."""
    return f"HTTP {status}" if status else type(err).__name__


def error_line(err: BaseException) -> str:
    """``Type: first line of the message``, at most 160 characters, with anything like a token masked."""
    lines = str(err).strip().splitlines() or [""]
    text = re.sub(r"hf_[A-Za-z0-9]{8,}|Bearer \S+", "***", lines[0].strip())[:160]
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _hub_error(err: BaseException) -> WorkbookError:
    """One sentence for a failed Hub download: offline, refused, busy, library versions, or unknown."""
    status, offline = http_status(err), _offline_switch()
    denied = _classes("huggingface_hub.errors:RepositoryNotFoundError", "datasets.exceptions:DatasetNotFoundError")
    versions = (ValueError, TypeError, ImportError, AttributeError, NotImplementedError,
                *_classes("datasets.exceptions:DatasetBuildError"))
    if offline and (connection_failed(err) or isinstance(err, FileNotFoundError)):
        msg = (f"{offline} is set, so {HUB_DATASET} cannot be downloaded from the Hugging Face Hub: unset it and "
               f"restart the runtime, or {LOCAL_COPY}.")
    elif status in (401, 403, 404) or isinstance(err, denied):
        msg = (f"The Hugging Face Hub refused {HUB_DATASET} as not found, gated or unauthorized "
               f"({_reason(err, status)}): if HF_TOKEN is set make sure it is valid, check on "
               f"https://huggingface.co/datasets/{HUB_DATASET} that it exists and that you have access, "
               f"or {LOCAL_COPY}.")
    elif status in (429, 500, 502, 503, 504):
        msg = (f"The Hugging Face Hub answered HTTP {status} for {HUB_DATASET}: run this cell again in a minute, "
               f"or {LOCAL_COPY}.")
    elif connection_failed(err):
        msg = (f"Could not reach the Hugging Face Hub to download {HUB_DATASET} ({type(err).__name__}): check the "
               f"internet connection and run this cell again, or {LOCAL_COPY}.")
    elif isinstance(err, versions):
        msg = (f"The datasets library failed to build {HUB_DATASET} ({error_line(err)}), which usually means library "
               "versions other than the pinned ones: run pip install -r requirements.txt and restart the runtime.")
    else:
        msg = f"Could not load {HUB_DATASET} from the Hub ({error_line(err)}): run this cell again, or {LOCAL_COPY}."
    return WorkbookError(msg)


def _load_hub() -> pd.DataFrame:
    """The Asclepius synthetic notes from the Hub, as a DataFrame."""
    try:
        from datasets import load_dataset

        return load_dataset(HUB_DATASET, split="train").to_pandas()
    except Exception as err:  # each kind of failure becomes one sentence that says what to do
        raise _hub_error(err) from None


def _read_csv(path: Path) -> pd.DataFrame:
    """A local CSV with its text columns as strings; only empty fields count as missing ("None" is text)."""
    text = {c: str for c in (*TEXT_COLUMNS, NOTE_ALIAS)}
    try:
        return pd.read_csv(path, dtype=text, keep_default_na=False, na_values=[""])
    except UnicodeDecodeError:
        msg = (f"{path} is not UTF-8 text (a spreadsheet, a binary file or another encoding): save it as "
               "'CSV UTF-8' and set DATA_SOURCE to that file.")
    except pd.errors.EmptyDataError:
        msg = f"{path} is empty: set DATA_SOURCE to a CSV with a header row and at least one row of data."
    except pd.errors.ParserError as err:
        detail = str(err).strip().split("error: ")[-1].rstrip(".")
        msg = (f"{path} is not a well-formed CSV ({detail}): quote fields that contain commas, quotes or line "
               "breaks, or export it again as CSV.")
    except (OSError, ValueError) as err:
        msg = f"Could not read {path} ({error_line(err)}): check that it is a readable CSV file."
    raise WorkbookError(msg)


def _note_alias(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Rename the Hub's ``patient`` column (the note text) to ``note`` when there is no ``note`` column."""
    if "note" in df.columns or NOTE_ALIAS not in df.columns:
        return df
    print(f"{source}: using its column '{NOTE_ALIAS}' (the note text, as the Asclepius CSV names it) as 'note'.")
    return df.rename(columns={NOTE_ALIAS: "note"})


def _drop_empty(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Drop rows whose note, question or answer is missing or only whitespace, saying how many in one line."""
    empty = pd.concat([df[c].isna() | df[c].astype(str).str.strip().eq("") for c in TEXT_COLUMNS], axis=1)
    empty = empty.any(axis=1)
    if empty.all():
        raise WorkbookError(f"{source} has no row with a non-empty note, question and answer: fill them in.")
    if empty.any():
        print(f"{source}: dropped {int(empty.sum()):,} of {len(df):,} rows with an empty note, question or answer.")
    return df[~empty]


def source_for(track: str, requested: str = "auto") -> str:
    """``"auto"`` means the Hub's Asclepius notes on the GPU track and the bundled synthetic notes on the CPU track."""
    if requested != "auto":
        return requested
    return "hub" if track == "gpu" else "synthetic"


def load_notes(source: str = "synthetic", *, n_notes: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Load QA rows from ``"synthetic"``, ``"hub"`` or a CSV path: validated, without empty notes or answers."""
    if source == "synthetic":
        from .synthetic import generate_notes

        df, name = generate_notes(n_notes=n_notes, seed=seed), "the synthetic set"
    elif source == "hub":
        df, name = _load_hub(), HUB_DATASET
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise WorkbookError(
                f"DATA_SOURCE={source!r} is neither 'synthetic', 'hub' nor an existing CSV file: fix the path."
            )
        df, name = _read_csv(path), str(path)
    df = _drop_empty(validate_schema(_note_alias(df, name), source=name), name)
    df["patient_id"] = df["patient_id"].astype(str)
    return df.reset_index(drop=True)


def filter_by_chars(df: pd.DataFrame, max_note_chars: int = 2500, max_answer_chars: int = 1000) -> pd.DataFrame:
    """Keep rows whose note and answer are at most the given number of characters (a cheap pre-filter)."""
    keep = (df["note"].str.len() <= max_note_chars) & (df["answer"].str.len() <= max_answer_chars)
    return df[keep].reset_index(drop=True)


def _qa_text(row) -> str:
    """Note, question and answer joined: what the token filter counts by default."""
    return f"{row['note']}\n{row['question']}\n{row['answer']}"


def token_lengths(df: pd.DataFrame, tokenizer, text_fn: Callable = _qa_text) -> pd.Series:
    """Number of tokens of ``text_fn(row)`` for each row."""
    texts = [text_fn(row) for _, row in df.iterrows()]
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return pd.Series([len(x) for x in ids], index=df.index)


def filter_by_tokens(df: pd.DataFrame, tokenizer, max_tokens: int, text_fn: Callable = _qa_text) -> pd.DataFrame:
    """Keep rows whose full text fits in ``max_tokens`` (so nothing, answers included, is ever truncated)."""
    if max_tokens < 1:
        raise WorkbookError(f"max_tokens={max_tokens} must be a positive number of tokens, e.g. 512.")
    return df[token_lengths(df, tokenizer, text_fn) <= max_tokens].reset_index(drop=True)


def split_of(patient_id: str, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> str:
    """The split a patient belongs to: a stable hash, so a patient never moves between splits."""
    digest = hashlib.sha256(f"{seed}:{patient_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    return "validation" if u < fractions[0] + fractions[1] else "test"


def split_by_patient(df: pd.DataFrame, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> dict[str, pd.DataFrame]:
    """Split rows into train/validation/test by ``patient_id``: all rows of a note land in one split."""
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise WorkbookError(f"fractions={fractions} must be three non-negative numbers that sum to 1.")
    split = df["patient_id"].map(lambda pid: split_of(pid, fractions, seed))
    return {name: df[split == name].reset_index(drop=True) for name in SPLITS}


def notes_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per note (the first QA row of each patient), for language modelling and classification."""
    return df.drop_duplicates("patient_id").reset_index(drop=True)
