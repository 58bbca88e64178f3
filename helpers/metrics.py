"""Answer-quality metrics for held-out evaluation (introduced in notebook 03)."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from helpers.runtime import WorkbookError

SHORT_ANSWER_TASKS: tuple[str, ...] = (
    "Abbreviation Expansion", "Coreference Resolution", "Relation Extraction", "Temporal Information Extraction",
)
METRICS: tuple[str, ...] = ("rouge_l", "token_f1", "exact_match")

_PUNCT = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_scorer: Any = None


def normalize(text: str) -> list[str]:
    """SQuAD normalization: lowercase, strip punctuation, drop a/an/the, split on whitespace."""
    text = str(text).lower().translate(_PUNCT)
    return _ARTICLES.sub(" ", text).split()


def token_f1(pred: str, ref: str) -> float:
    """SQuAD token F1 on normalized multisets: 1.0 when both are empty, 0.0 when only one is."""
    p, r = normalize(pred), normalize(ref)
    if not p or not r:
        return float(p == r)
    overlap = sum((Counter(p) & Counter(r)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(p), overlap / len(r)
    return 2 * precision * recall / (precision + recall)


def exact_match(pred: str, ref: str) -> float:
    """1.0 when the normalized token lists are identical, else 0.0."""
    return float(normalize(pred) == normalize(ref))


def opens_like(pred: str, ref: str, k: int = 2) -> float:
    """1.0 when the answer's first ``k`` normalized words are the reference's: it has the task's answer form."""
    p, r = normalize(pred), normalize(ref)
    return float(len(r) >= 1 and p[:k] == r[:k])


def _rouge_scorer() -> Any:
    """The shared ROUGE-L scorer (with stemming), created on first use."""
    global _scorer
    if _scorer is None:
        from rouge_score import rouge_scorer

        _scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return _scorer


def rouge_l(pred: str, ref: str) -> float:
    """ROUGE-L F-measure from the pinned rouge_score package."""
    return float(_rouge_scorer().score(str(ref), str(pred))["rougeL"].fmeasure)


def _require(df: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise WorkbookError naming the first column that df lacks."""
    for column in columns:
        if column not in df.columns:
            raise WorkbookError(f"The table has no column {column!r}; pass the name of an existing column.")


def score_answers(df: pd.DataFrame, pred_col: str, ref_col: str = "answer") -> pd.DataFrame:
    """A copy of df with rouge_l, token_f1 and exact_match (NaN outside SHORT_ANSWER_TASKS) columns."""
    _require(df, (pred_col, ref_col, "task"))
    out = df.copy()
    pairs = list(zip(out[pred_col].fillna("").astype(str), out[ref_col].fillna("").astype(str), strict=True))
    out["rouge_l"] = [rouge_l(p, r) for p, r in pairs]
    out["token_f1"] = [token_f1(p, r) for p, r in pairs]
    short = out["task"].isin(SHORT_ANSWER_TASKS).to_numpy()
    out["exact_match"] = [exact_match(p, r) if s else np.nan for (p, r), s in zip(pairs, short, strict=True)]
    out["exact_match"] = out["exact_match"].astype(float)
    return out


def by_task(scored: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Mean of each metric per task plus an 'overall' row, with the row count in column n."""
    _require(scored, ("task", *metrics))
    cols = list(metrics)
    table = scored.groupby("task")[cols].mean()
    table["n"] = scored.groupby("task").size()
    overall = scored[cols].mean().to_frame("overall").T  # mean() skips NaN: exact_match over rows that have it
    overall["n"] = len(scored)
    table = pd.concat([table, overall])
    table["n"] = table["n"].astype(int)
    table.index.name = "task"
    return table


def compare(scored_by_name: Mapping[str, pd.DataFrame], metric: str = "rouge_l") -> pd.DataFrame:
    """One column of by_task(...)[metric] per model plus 'difference' (last minus first)."""
    if not scored_by_name:
        raise WorkbookError("compare() needs at least one scored table; pass a dict like {'base': scored}.")
    columns = {name: by_task(scored, (metric,))[metric] for name, scored in scored_by_name.items()}
    table = pd.DataFrame(columns)
    overall = table.loc[["overall"]]
    table = pd.concat([table.drop(index="overall"), overall])
    names = list(columns)
    table["difference"] = table[names[-1]] - table[names[0]]
    table.index.name = "task"
    return table


def paired_intervals(scored_by_name: Mapping[str, pd.DataFrame], metric: str = "token_f1", seed: int = 0,
                     level: float = 0.95) -> pd.DataFrame:
    """Per task and overall: both models' mean ``metric``, the difference (second minus first) and its paired
    bootstrap interval over the task's questions, and whether the interval lies above zero (a task with a single
    question gets no interval and never counts as better)."""
    from .stats import paired_bootstrap

    (first, a), (second, b) = list(scored_by_name.items())[:2]
    _require(a, ("task", metric))
    _require(b, ("task", metric))
    groups = [*a.groupby("task").groups.items(), ("overall", a.index)]
    rows = {}
    for task, index in groups:
        x, y = a.loc[index, metric].to_numpy(float), b.loc[index, metric].to_numpy(float)
        if len(x) < 2:  # one question: no interval can be drawn, and no claim made
            rows[task] = {first: x.mean(), second: y.mean(), "difference": y.mean() - x.mean(), "low": np.nan,
                          "high": np.nan, "n": len(x), "better": False}
            continue
        iv = paired_bootstrap(x, y, seed=seed, level=level)
        rows[task] = {first: x.mean(), second: y.mean(), "difference": iv.estimate, "low": iv.low, "high": iv.high,
                      "n": len(x), "better": iv.side() == 1}
    table = pd.DataFrame(rows).T
    table.index.name = "task"
    return table.astype({first: float, second: float, "difference": float, "low": float, "high": float, "n": int,
                         "better": bool})


# --- AUROC for the outcome classifiers (introduced in notebook 05) ----------------------------------------------

def binary_auroc(y_true: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve: the chance that a random positive outscores a random negative (ties count 1/2)."""
    y, s = np.asarray(y_true).astype(bool).ravel(), np.asarray(scores, dtype=float).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        only = int(y[0]) if len(y) else "-"
        raise WorkbookError(f"AUROC needs both classes, but these {len(y)} labels are all {only}: "
                            "use a larger or differently seeded test split.")
    ranks = pd.Series(s).rank(method="average").to_numpy()  # tied scores share their average rank
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))  # Mann-Whitney U / (n_pos * n_neg)


def ovr_auroc(y_true: Sequence[int], probs: np.ndarray) -> float:
    """Multi-class AUROC, one-vs-rest, macro mean over the classes present in y_true (column k scores class k)."""
    y, p = np.asarray(y_true).ravel(), np.asarray(probs, dtype=float)
    present = [k for k in range(p.shape[1]) if 0 < (y == k).sum() < len(y)]
    if not present:
        raise WorkbookError("One-vs-rest AUROC needs at least two classes in the test labels: use a larger test split.")
    return float(np.mean([binary_auroc(y == k, p[:, k]) for k in present]))


def multilabel_auroc(y_true: np.ndarray, scores: np.ndarray) -> tuple[float, int]:
    """Mean per-label AUROC over labels with both classes in y_true, and how many labels that was."""
    y, s = np.asarray(y_true), np.asarray(scores, dtype=float)
    usable = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
    if not usable:
        raise WorkbookError("No label has both classes in the test split, so AUROC is undefined: use more notes.")
    return float(np.mean([binary_auroc(y[:, j], s[:, j]) for j in usable])), len(usable)


def task_auroc(kind: str, y_true, scores) -> float:
    """AUROC for a task kind: 'binary' (positive-class score), 'multiclass' (OvR macro), 'multilabel' (mean)."""
    if kind == "binary":
        return binary_auroc(y_true, np.asarray(scores)[:, 1] if np.ndim(scores) == 2 else scores)
    if kind == "multiclass":
        return ovr_auroc(y_true, scores)
    if kind == "multilabel":
        return multilabel_auroc(y_true, scores)[0]
    raise WorkbookError(f"Unknown task kind {kind!r}: use 'binary', 'multiclass' or 'multilabel'.")


def ovo_auroc(y_true: Sequence[int], probs: np.ndarray) -> float:
    """Multi-class AUROC, one-vs-one (Hand and Till 2001, scikit-learn's 'ovo'): mean over class pairs."""
    y, p = np.asarray(y_true).ravel(), np.asarray(probs, dtype=float)
    present = [k for k in range(p.shape[1]) if (y == k).any()]
    pairs = [(j, k) for i, j in enumerate(present) for k in present[i + 1:]]
    if not pairs:
        raise WorkbookError("One-vs-one AUROC needs at least two classes in the test labels: use a larger test split.")
    both = [(y == j) | (y == k) for j, k in pairs]
    return float(np.mean([(binary_auroc(y[m] == j, p[m, j]) + binary_auroc(y[m] == k, p[m, k])) / 2
                          for (j, k), m in zip(pairs, both, strict=True)]))
