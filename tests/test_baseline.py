"""The TF-IDF + logistic-regression baseline of notebook 05: scores shaped like the classifier's, above chance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import baseline, data, metrics, outcomes


def _split(texts, **columns):
    df = pd.DataFrame({"text": texts, **columns})
    half = len(df) // 2
    return df.iloc[:half].reset_index(drop=True), df.iloc[half:].reset_index(drop=True)


def test_scores_are_shaped_like_the_classifiers_and_follow_the_words():
    texts = [w for _ in range(10) for w in ("fever sepsis intubated", "ankle sprain home", "fever cough", "rash")]
    mor = [int("sepsis" in t) for t in texts]
    los = [(i // 4) % 4 if "fever" in t else 0 for i, t in enumerate(texts)]
    codes = ["A;B" if "fever" in t else ("C" if "rash" in t else "") for t in texts]
    train, test = _split(texts, mortality=mor, los_bucket=los, diagnoses=codes)
    labels = [outcomes.labels_for(outcomes.TASKS[t], train, test) for t in ("mortality", "los_bucket", "diagnoses")]
    scores = baseline.tfidf_scores(train.text, test.text, labels)
    assert scores["mortality"].shape == (20, 2) and np.allclose(scores["mortality"].sum(1), 1)
    assert scores["los_bucket"].shape == (20, 4) and np.allclose(scores["los_bucket"].sum(1), 1)
    assert scores["diagnoses"].shape == (20, 3) and ((scores["diagnoses"] >= 0) & (scores["diagnoses"] <= 1)).all()
    assert metrics.task_auroc("binary", labels[0].test, scores["mortality"]) == 1.0  # "sepsis" gives it away
    assert metrics.task_auroc("multilabel", labels[2].test, scores["diagnoses"]) == 1.0


def test_a_code_with_one_class_in_training_scores_its_share_and_a_missing_class_zero():
    x_train = np.eye(4)
    y = np.array([[1, 0], [1, 1], [1, 0], [1, 1]], dtype=np.float32)  # code 0 is on every training note
    out = baseline.code_scores(x_train, y, np.eye(4)[:2])
    assert np.allclose(out[:, 0], 1.0) and (out[:, 1] > 0).all() and (out[:, 1] < 1).all()
    probs = baseline._logistic(x_train, np.array([0, 2, 0, 2]), np.eye(4), width=4, balanced=True)
    assert probs.shape == (4, 4) and np.allclose(probs[:, [1, 3]], 0) and np.allclose(probs.sum(1), 1)


@pytest.mark.parametrize("task", ["mortality", "los_bucket", "diagnoses"])
def test_on_synthetic_admission_notes_it_beats_chance(task):
    notes = outcomes.load_labelled("synthetic", tasks=[task], n_notes=1000)
    splits = data.split_by_patient(notes)
    lab = outcomes.labels_for(outcomes.TASKS[task], splits["train"], splits["test"])
    scores = baseline.tfidf_scores(splits["train"].text, splits["test"].text, [lab])[task]
    assert metrics.task_auroc(lab.task.kind, lab.test, scores) > 0.6
