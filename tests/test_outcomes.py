"""Labelled notes for notebook 05: tasks, label matrices, class weights and the learner-facing errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import outcomes
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
