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
