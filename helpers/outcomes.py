"""Outcome-prediction tasks for the two-stage classifier (introduced in notebook 05).

The five clinical tasks of Gema et al. (2023), in their Table 3 column order, read from labelled notes:
the bundled synthetic set (admission-only text) or your own CSV with a text column and one column per
task. Data card for the CSV format: ``data_cards/labelled_notes_csv.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .runtime import WorkbookError
from .synthetic import LOS_BUCKETS


@dataclass(frozen=True)
class Task:
    """One outcome task: its label column, the paper's short name, and its kind."""

    column: str
    short: str
    kind: str  # "binary", "multiclass" (see classes) or "multilabel" (codes joined by ";")
    title: str
    classes: tuple[str, ...] = ()  # class names of a multi-class task; binary tasks are named "<short>=0/1"

    @property
    def n_classes(self) -> int:
        """How many classes a single-label task has."""
        return len(self.classes) or 2


TASKS: dict[str, Task] = {t.column: t for t in (
    Task("prolonged_mv", "PMV", "binary", "prolonged mechanical ventilation (> 7 days)"),
    Task("mortality", "MOR", "binary", "in-hospital mortality"),
    Task("los_bucket", "LOS", "multiclass", "length of stay (4 buckets)", classes=LOS_BUCKETS),
    Task("diagnoses", "DIAG", "multilabel", "diagnosis codes"),
    Task("procedures", "PROC", "multilabel", "procedure codes"),
)}


def tasks_from(names) -> list[Task]:
    """The Task for each name in ``names`` (the TASKS parameter), with one clear error for a typo."""
    unknown = [n for n in names if n not in TASKS]
    if unknown or not names:
        raise WorkbookError(f"TASKS={list(names)!r}: choose one or more of {list(TASKS)}.")
    return [TASKS[n] for n in names]


def load_labelled(source: str = "synthetic", *, tasks=tuple(TASKS), text_column: str = "admission_note",
                  n_notes: int = 3000, seed: int = 0) -> pd.DataFrame:
    """One row per note: patient_id, ``text`` (from ``text_column``) and one column per task, checked."""
    if source == "synthetic":
        from .data import load_notes, notes_table

        df, name = notes_table(load_notes("synthetic", n_notes=n_notes, seed=seed)), "the synthetic set"
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise WorkbookError(f"LABELS_SOURCE={source!r} is neither 'synthetic' nor an existing CSV file: "
                                "fix the path.")
        df, name = pd.read_csv(path, keep_default_na=False), path.name
    chosen = tasks_from(tasks)
    missing = [c for c in [text_column] + [t.column for t in chosen] if c not in df.columns]
    if missing:
        raise WorkbookError(f"{name} has no column(s) {missing}: rename them in the CSV, set TEXT_COLUMN, or drop "
                            f"those tasks from TASKS (columns found: {list(df.columns)[:12]}).")
    out = pd.DataFrame({"patient_id": df["patient_id"].astype(str) if "patient_id" in df.columns
                        else [f"row-{i}" for i in range(len(df))], "text": df[text_column].astype(str)})
    for task in chosen:
        out[task.column] = df[task.column].astype(str) if task.kind == "multilabel" else _integers(df, task, name)
    return out


def _integers(df: pd.DataFrame, task: Task, name: str) -> pd.Series:
    """The task's column as integers 0..n_classes-1, or one sentence naming the bad values."""
    values = pd.to_numeric(df[task.column], errors="coerce")
    bad = values.isna() | ~values.isin(range(task.n_classes))
    if bad.any():
        examples = df.loc[bad, task.column].astype(str).unique()[:3].tolist()
        raise WorkbookError(f"Column {task.column!r} of {name} must hold whole numbers 0 to {task.n_classes - 1}; "
                            f"found {examples}: fix those rows.")
    return values.astype(int)


@dataclass
class Labels:
    """One task's targets on the train and test splits, the label names and the class weights."""

    task: Task
    names: list[str]
    train: np.ndarray
    test: np.ndarray
    weights: np.ndarray | None  # balanced class weights for single-label tasks, None for multi-label

    @property
    def width(self) -> int:
        """How many head outputs the task needs (one per class, or one per label)."""
        return len(self.names)


def _codes(column: pd.Series, names: list[str]) -> np.ndarray:
    """A 0/1 matrix: row i, column j says whether note i carries code names[j]."""
    sets = [set(filter(None, str(v).split(";"))) for v in column]
    return np.array([[n in s for n in names] for s in sets], dtype=np.float32).reshape(len(sets), len(names))


def labels_for(task: Task, train: pd.DataFrame, test: pd.DataFrame) -> Labels:
    """Targets for ``task``; raises one sentence when a split cannot train or score it."""
    if task.kind == "multilabel":
        names = sorted({c for v in train[task.column] for c in str(v).split(";") if c})
        y_train, y_test = _codes(train[task.column], names), _codes(test[task.column], names)
        if not ((y_test.sum(0) > 0) & (y_test.sum(0) < len(y_test))).any():
            raise WorkbookError(f"No {task.short} code occurs in some but not all test notes, so AUROC is undefined "
                                "for it: use more notes (N_NOTES) or drop the task from TASKS.")
        return Labels(task, names, y_train, y_test, None)
    names = list(task.classes) or [f"{task.short}={k}" for k in range(task.n_classes)]
    y_train, y_test = train[task.column].to_numpy(int), test[task.column].to_numpy(int)
    for split, y in (("training", y_train), ("test", y_test)):
        if len(np.unique(y)) < 2:
            raise WorkbookError(f"The {split} split has only class {y[0] if len(y) else '-'} for {task.short} "
                                f"({task.column}), so it cannot be {'learned' if split == 'training' else 'scored'}: "
                                "use more notes (N_NOTES) or drop the task from TASKS.")
    counts = np.bincount(y_train, minlength=task.n_classes)
    weights = len(y_train) / (task.n_classes * np.maximum(counts, 1))  # "balanced": rare classes weigh more
    return Labels(task, names, y_train, y_test, weights.astype(np.float32))


def prevalence(labels: list[Labels]) -> pd.DataFrame:
    """Per task: kind, head outputs, and the share of positives (or of each class) in train and test."""
    rows = []
    for lab in labels:
        if lab.task.kind == "multilabel":
            train, test = f"{lab.train.sum(1).mean():.1f} codes/note", f"{lab.test.sum(1).mean():.1f} codes/note"
        elif lab.task.kind == "binary":
            train, test = f"{lab.train.mean():.1%} positive", f"{lab.test.mean():.1%} positive"
        else:
            train, test = (" / ".join(f"{p:.0%}" for p in np.bincount(y, minlength=lab.width) / len(y))
                           for y in (lab.train, lab.test))
        rows.append({"task": lab.task.short, "column": lab.task.column, "kind": lab.task.kind,
                     "outputs": lab.width, "train": train, "test": test})
    return pd.DataFrame(rows).set_index("task")


def paper_table3(model: str = "LLaMA") -> pd.DataFrame:
    """Gema et al. (2023) Table 3 AUROC (%) rows for ``model`` (MIMIC results), indexed 'a. head only' ... 'f. ...'."""
    from importlib import resources

    with resources.as_file(resources.files("helpers") / "data" / "clinical_peft_table3_auroc.csv") as path:
        table = pd.read_csv(path)
    rows = table[table["model"] == model].drop(columns="model").set_index("variant")
    rows.index = [f"{key}. {name}" for key, name in zip("abcdef", rows.index, strict=True)]
    return rows


# --- Bootstrap intervals over the test notes (notebook 05) ------------------------------------------------------

class ResampledAuroc:
    """Each task's AUROC of one model's test scores on any resample of the test notes (notebook 05's intervals).

    ``per_task(idx)`` equals ``metrics.task_auroc`` on ``labels[idx], scores[idx]`` for every task (tested), but
    counts each note's multiplicity over one sort per output column, for all columns at once, and remembers
    each resample: a thousand resamples of seven models then take seconds, not minutes.
    """

    def __init__(self, labels: list[Labels], scores: dict[str, np.ndarray]):
        ys, ss, owner = [], [], []
        for t, lab in enumerate(labels):
            y, s = np.asarray(lab.test), np.asarray(scores[lab.task.column], dtype=float)
            if lab.task.kind == "binary":
                cols = [(y == 1, s[:, 1] if s.ndim == 2 else s)]
            elif lab.task.kind == "multiclass":
                cols = [(y == k, s[:, k]) for k in range(s.shape[1])]  # one-vs-rest, as metrics.ovr_auroc
            else:
                cols = [(y[:, j] > 0.5, s[:, j]) for j in range(s.shape[1])]
            ys += [c[0] for c in cols]
            ss += [c[1] for c in cols]
            owner += [t] * len(cols)
        scores_ = np.stack(ss, axis=1)
        self.n, self.owner, self.n_tasks = len(scores_), np.array(owner), len(labels)
        self.order = np.argsort(scores_, axis=0, kind="stable")
        ranked = np.take_along_axis(scores_, self.order, axis=0)
        self.positive = np.take_along_axis(np.stack(ys, axis=1), self.order, axis=0).astype(float)
        rows = np.arange(self.n)[:, None]
        starts = np.ones(ranked.shape, dtype=bool)
        starts[1:] = ranked[1:] != ranked[:-1]  # a new run of tied scores begins here
        ends = np.ones(ranked.shape, dtype=bool)
        ends[:-1] = starts[1:]
        first = np.maximum.accumulate(np.where(starts, rows, 0), axis=0)  # first row of each row's tie run
        last = np.minimum.accumulate(np.where(ends, rows, self.n - 1)[::-1], axis=0)[::-1]
        width = ranked.shape[1]  # flat positions in the (n + 1) x width table of cumulative negatives
        self.lower_at, self.upper_at = first * width + np.arange(width), (last + 1) * width + np.arange(width)
        self._memo: dict[bytes, np.ndarray] = {}

    def per_task(self, idx: np.ndarray) -> np.ndarray:
        """AUROC per task on the notes ``idx`` (repeats count); NaN where a task is undefined on them."""
        key = np.asarray(idx).tobytes()
        if key not in self._memo:
            w = np.bincount(idx, minlength=self.n).astype(float)[self.order]
            pos = w * self.positive
            neg = w - pos
            below = np.zeros((self.n + 1, neg.shape[1]))
            np.cumsum(neg, axis=0, out=below[1:])  # row r: weighted negatives ranked below sorted row r
            lower, upper = below.ravel()[self.lower_at], below.ravel()[self.upper_at]
            n_pos, n_neg = pos.sum(0), neg.sum(0)
            with np.errstate(invalid="ignore", divide="ignore"):  # ties with a negative count one half
                auc = np.where((n_pos > 0) & (n_neg > 0), (pos * (lower + upper) / 2).sum(0) / (n_pos * n_neg), np.nan)
            ok = np.isfinite(auc)
            sums = np.bincount(self.owner, weights=np.where(ok, auc, 0), minlength=self.n_tasks)
            counts = np.bincount(self.owner, weights=ok, minlength=self.n_tasks)
            with np.errstate(invalid="ignore"):
                self._memo[key] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        return self._memo[key]

    def macro(self, idx: np.ndarray) -> float:
        """The mean of the per-task AUROCs on ``idx`` (NaN if any task is undefined there)."""
        return float(self.per_task(idx).mean())


def auroc_intervals(model: ResampledAuroc, shorts: list[str], against: ResampledAuroc | None = None,
                    n_boot: int = 1000, seed: int = 0) -> dict[str, object]:
    """Per task and "macro": the AUROC (or, with ``against``, the paired difference model - against) with its
    95% bootstrap interval over resampled test notes (notebook 05); None where too few resamples define it."""
    from .stats import bootstrap

    def stat(i):
        return (lambda idx: model.per_task(idx)[i] - (against.per_task(idx)[i] if against else 0.0))

    def macro(idx):
        return model.macro(idx) - (against.macro(idx) if against else 0.0)

    out = {}
    for name, f in [*((s, stat(i)) for i, s in enumerate(shorts)), ("macro", macro)]:
        try:
            out[name] = bootstrap(f, model.n, n_boot=n_boot, seed=seed)  # one seed: every call draws the same notes
        except WorkbookError:
            out[name] = None
    return out


def verdict(interval) -> str:
    """What a difference's interval supports (notebook 05): higher, lower, or not resolved."""
    if interval is None:
        return "no interval (too few test positives)"
    return {1: "higher (interval above 0)", -1: "lower (interval below 0)",
            0: "not resolved (interval includes 0)"}[interval.side()]


def reading_cut(tokenizer, texts, max_length: int, headers=None) -> dict:
    """What a classifier that reads the first ``max_length`` tokens of each text misses (notebook 05): the median
    length before the cut, the share of notes cut, the share of all tokens read, and the share of notes whose
    medication list (a section opening with one of ``headers``) starts past the cut, among the notes that have one."""
    import re

    from .synthetic_vocab import HEADERS

    texts = list(texts)
    lengths = np.array([len(x) for x in tokenizer(texts, add_special_tokens=False)["input_ids"]])
    pattern = re.compile("|".join(re.escape(h) for h in (headers or HEADERS["meds"])), re.IGNORECASE)
    heads = [text[:m.start()] for text in texts if (m := pattern.search(text))]  # the text before the list
    starts = np.array([len(x) for x in tokenizer(heads, add_special_tokens=False)["input_ids"]]) if heads else None
    return {"median_tokens": float(np.median(lengths)), "share_cut": float(np.mean(lengths > max_length)),
            "share_read": float(np.minimum(lengths, max_length).sum() / lengths.sum()),
            "notes_with_medications": len(heads),
            "medications_past_cut": None if starts is None else float(np.mean(starts >= max_length))}
