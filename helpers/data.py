"""Load, validate, filter and split clinical note QA data (introduced in notebook 01; used by 03-05).

Three sources, one schema (``patient_id, note, question, answer, task``):

* ``"synthetic"``: the bundled, deterministic synthetic notes (CPU track, offline);
* ``"hub"``: ``starmpcc/Asclepius-Synthetic-Clinical-Notes`` from the Hugging Face Hub (GPU track);
* a path to a local CSV in the Asclepius schema (for example a downloaded copy of the Hub data).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .runtime import WorkbookError

HUB_DATASET = "starmpcc/Asclepius-Synthetic-Clinical-Notes"
REQUIRED_COLUMNS = ("patient_id", "note", "question", "answer", "task")
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


def _load_hub() -> pd.DataFrame:
    """The Asclepius synthetic notes from the Hub, as a DataFrame."""
    from datasets import load_dataset

    try:
        return load_dataset(HUB_DATASET, split="train").to_pandas()
    except Exception as err:  # connection errors come in many types across hub versions
        raise WorkbookError(
            f"Could not load {HUB_DATASET} from the Hugging Face Hub ({type(err).__name__}): check the "
            "connection, or download its CSV and set DATA_SOURCE to the file's path, or set TRACK='cpu'."
        ) from None


def source_for(track: str, requested: str = "auto") -> str:
    """``"auto"`` means the Hub's Asclepius notes on the GPU track and the bundled synthetic notes on the CPU track."""
    if requested != "auto":
        return requested
    return "hub" if track == "gpu" else "synthetic"


def load_notes(source: str = "synthetic", *, n_notes: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Load QA rows from ``"synthetic"``, ``"hub"`` or a CSV path, validated against the schema."""
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
        df, name = pd.read_csv(path), str(path)
    df = validate_schema(df, source=name)
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
