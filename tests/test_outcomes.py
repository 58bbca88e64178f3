"""Labelled notes for notebook 05: tasks, label matrices, class weights and the learner-facing errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import metrics, outcomes
from helpers.runtime import WorkbookError


def test_synthetic_labels_and_admission_text():
    df = outcomes.load_labelled("synthetic", n_notes=60)
    assert list(df.columns) == ["patient_id", "text", *outcomes.TASKS]
    assert len(df) == 60 and df.patient_id.is_unique
    assert not df.text.str.contains("Expired|Discharge", case=False).any()  # admission-only view


def test_labels_binary_weights_and_multilabel_vocabulary():
    train = pd.DataFrame({"mortality": [0, 0, 0, 1], "diagnoses": ["A;B", "B", "", "C"]})
    test = pd.DataFrame({"mortality": [0, 1], "diagnoses": ["A;Z", "B"]})
    mor = outcomes.labels_for(outcomes.TASKS["mortality"], train, test)
    assert mor.width == 2 and mor.test.tolist() == [0, 1]
    counts = np.bincount(mor.train)
    assert np.allclose(mor.weights * counts, len(mor.train) / 2)  # balanced: each class weighs the same in total
    dx = outcomes.labels_for(outcomes.TASKS["diagnoses"], train, test)
    assert dx.names == ["A", "B", "C"] and dx.weights is None  # Z is not in training, so it gets no output
    assert dx.train.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 0], [0, 0, 1]]
    assert dx.test.tolist() == [[1, 0, 0], [0, 1, 0]]


def test_single_class_test_split_is_one_clear_message():
    train = pd.DataFrame({"mortality": [0, 1, 0, 1]})
    test = pd.DataFrame({"mortality": [0, 0, 0]})
    with pytest.raises(WorkbookError, match="test split has only class 0 for MOR") as err:
        outcomes.labels_for(outcomes.TASKS["mortality"], train, test)
    assert "\n" not in str(err.value) and "N_NOTES" in str(err.value)
    with pytest.raises(WorkbookError, match="training split"):
        outcomes.labels_for(outcomes.TASKS["mortality"], test, train)
    same = pd.DataFrame({"procedures": ["X", "X"]})
    with pytest.raises(WorkbookError, match="AUROC is undefined"):
        outcomes.labels_for(outcomes.TASKS["procedures"], same, same)


def _csv(tmp_path, **columns) -> str:
    path = tmp_path / "labelled.csv"
    pd.DataFrame(columns).to_csv(path, index=False)
    return str(path)


def test_own_csv_round_trip(tmp_path):
    path = _csv(tmp_path, text=["note one", "note two"], mortality=[0, 1], los_bucket=[3, 0],
                procedures=["96.72;38.93", ""])
    df = outcomes.load_labelled(path, tasks=["mortality", "los_bucket", "procedures"], text_column="text")
    assert df.patient_id.tolist() == ["row-0", "row-1"]  # no patient_id column: each row is its own patient
    assert df.mortality.tolist() == [0, 1] and df.los_bucket.tolist() == [3, 0]
    assert df.procedures.tolist() == ["96.72;38.93", ""]


def test_missing_label_columns_are_named_in_one_sentence(tmp_path):
    path = _csv(tmp_path, text=["a", "b"], mortality=[0, 1])
    with pytest.raises(WorkbookError) as err:
        outcomes.load_labelled(path, tasks=["mortality", "prolonged_mv", "diagnoses"], text_column="text")
    message = str(err.value)
    assert "'prolonged_mv'" in message and "'diagnoses'" in message and "TASKS" in message and "\n" not in message
    with pytest.raises(WorkbookError, match="TEXT_COLUMN"):
        outcomes.load_labelled(path, tasks=["mortality"], text_column="note_text")


def test_bad_label_values_and_unknown_tasks(tmp_path):
    path = _csv(tmp_path, text=["a", "b", "c"], mortality=[0, "yes", 2])
    with pytest.raises(WorkbookError, match=r"whole numbers 0 to 1; found \['yes', '2'\]"):
        outcomes.load_labelled(path, tasks=["mortality"], text_column="text")
    with pytest.raises(WorkbookError, match="choose one or more"):
        outcomes.tasks_from(["mortalty"])
    with pytest.raises(WorkbookError, match="neither"):
        outcomes.load_labelled(str(tmp_path / "nope.csv"))


def test_paper_table_is_the_reference_rows():
    table = outcomes.paper_table3("LLaMA")
    assert list(table.columns) == ["PMV", "MOR", "LOS", "DIAG", "PROC", "macro_avg"]
    assert table.index[0] == "a. head only" and table.index[-1].startswith("f. ")
    assert table.loc["f. + Clinical LoRA trainable + Downstream LoRA", "macro_avg"] == 73.21
    assert table["macro_avg"].idxmax().startswith("f. ") and table["macro_avg"].idxmin() == "a. head only"


def _scored(seed: int = 0, n: int = 60):
    """Labels and tied, noisy scores for one task of each kind (notebook 05's intervals)."""
    rng = np.random.default_rng(seed)
    train = pd.DataFrame({"mortality": rng.integers(0, 2, n), "los_bucket": rng.integers(0, 4, n),
                          "diagnoses": [";".join(c for c in "ABC" if rng.random() < 0.4) for _ in range(n)]})
    labels = [outcomes.labels_for(outcomes.TASKS[t], train, train) for t in ("mortality", "los_bucket", "diagnoses")]
    noisy = lambda y, k: (np.eye(k)[y] if y.ndim == 1 else y) + rng.normal(0, 1.0, (n, k))  # noqa: E731
    scores = {"mortality": noisy(labels[0].test, 2).round(1), "los_bucket": noisy(labels[1].test, 4).round(1),
              "diagnoses": noisy(labels[2].test, 3).round(1)}  # rounded: many tied scores
    return labels, scores


def test_resampled_auroc_equals_task_auroc_on_every_resample():
    labels, scores = _scored()
    resampled = outcomes.ResampledAuroc(labels, scores)
    rng = np.random.default_rng(1)
    for idx in [np.arange(60), *(rng.integers(0, 60, 60) for _ in range(20))]:
        expected = [metrics.task_auroc(lab.task.kind, lab.test[idx], scores[lab.task.column][idx]) for lab in labels]
        assert np.allclose(resampled.per_task(idx), expected, atol=1e-12)
        assert resampled.macro(idx) == pytest.approx(np.mean(expected))
    negatives = np.flatnonzero(labels[0].test == 0)
    assert np.isnan(resampled.per_task(negatives)[0]) and np.isnan(resampled.macro(negatives))  # MOR undefined


def test_intervals_contain_the_estimate_and_pair_the_notes():
    labels, scores = _scored()
    model = outcomes.ResampledAuroc(labels, scores)
    ci = outcomes.auroc_intervals(model, ["MOR", "LOS", "DIAG"], n_boot=300)
    assert set(ci) == {"MOR", "LOS", "DIAG", "macro"}
    assert all(iv.low <= iv.estimate <= iv.high and iv.high - iv.low > 0 for iv in ci.values())
    same = outcomes.auroc_intervals(model, ["MOR", "LOS", "DIAG"], against=outcomes.ResampledAuroc(labels, scores),
                                    n_boot=300)
    assert all((iv.estimate, iv.low, iv.high) == (0, 0, 0) for iv in same.values())  # same notes: no difference
    other = outcomes.ResampledAuroc(labels, _scored(seed=2)[1])
    diff = outcomes.auroc_intervals(other, ["MOR", "LOS", "DIAG"], against=model, n_boot=300)
    assert diff["macro"].estimate == pytest.approx(other.macro(np.arange(60)) - model.macro(np.arange(60)))


def test_verdicts_follow_the_interval():
    from helpers.stats import Interval

    up, down, across = Interval(0.05, 0.01, 0.09), Interval(-0.05, -0.09, -0.01), Interval(0.01, -0.03, 0.05)
    assert outcomes.verdict(up) == "higher (interval above 0)"
    assert outcomes.verdict(down).startswith("lower") and outcomes.verdict(across).startswith("not resolved")
    assert outcomes.verdict(None).startswith("no interval")


def test_reading_cut_counts_what_lies_past_the_cut():
    class Chars:  # one token per character: every count is checkable by hand
        def __call__(self, texts, add_special_tokens=False):
            return {"input_ids": [list(t) for t in texts]}

    texts = ["a" * 10 + "Home Medications: x", "b" * 40, "HOME MEDICATIONS: y" + "c" * 30]
    cut = outcomes.reading_cut(Chars(), texts, 35)  # lengths 29, 40 and 49
    assert cut["median_tokens"] == 40 and cut["share_cut"] == pytest.approx(2 / 3)
    assert cut["share_read"] == pytest.approx((29 + 35 + 35) / (29 + 40 + 49))
    assert cut["notes_with_medications"] == 2 and cut["medications_past_cut"] == 0  # both lists start before 35
    later = outcomes.reading_cut(Chars(), texts, 5)
    assert later["medications_past_cut"] == 0.5  # the first list starts at 10, the second at 0
    assert outcomes.reading_cut(Chars(), ["no list here"], 5)["medications_past_cut"] is None
