"""Answer-quality metrics: token F1, exact match, ROUGE-L and the per-task tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from helpers import metrics
from helpers.runtime import WorkbookError


def _lcs(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence, by the textbook dynamic programme."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


def _table() -> pd.DataFrame:
    return pd.DataFrame({
        "task": ["Abbreviation Expansion", "Abbreviation Expansion", "Summarization", "Question Answering"],
        "answer": ["hypertension", "diabetes mellitus", "pt admitted with cp", "on day two"],
        "pred": ["Hypertension.", "diabetes", "pt admitted with cp", "never"],
    })


@pytest.mark.parametrize(("text", "tokens"), [
    ("The Pt has HTN.", ["pt", "has", "htn"]),
    ("An apple, a day!", ["apple", "day"]),
    ("theory then anatomy", ["theory", "then", "anatomy"]),  # articles only as whole words
    ("  BP:\t120/80\n", ["bp", "12080"]),
    ("", []),
    ("...", []),
])
def test_normalize(text, tokens):
    assert metrics.normalize(text) == tokens


def test_token_f1_hand_computed():
    # pred tokens: pt has htn and dm (5); ref: pt has htn (3); overlap 3 -> P = 3/5, R = 1, F1 = 0.75
    assert metrics.token_f1("the pt has HTN and DM", "pt has HTN") == pytest.approx(0.75)
    # multiset overlap: "cp cp" vs "cp cp cp" shares two tokens -> P = 1, R = 2/3, F1 = 0.8 (a set would give 0.4)
    assert metrics.token_f1("cp cp", "cp cp cp") == pytest.approx(0.8)
    assert metrics.token_f1("cp cp cp", "cp") == pytest.approx(0.5)  # P = 1/3, R = 1
    assert metrics.token_f1("chest pain", "Chest pain.") == 1.0
    assert metrics.token_f1("fever", "cough") == 0.0


def test_token_f1_empty_cases():
    assert metrics.token_f1("", "") == 1.0
    assert metrics.token_f1("the", "a.") == 1.0  # both normalize to nothing
    assert metrics.token_f1("", "pt has HTN") == 0.0
    assert metrics.token_f1("pt has HTN", "") == 0.0


def test_exact_match():
    assert metrics.exact_match("The Hypertension.", "hypertension") == 1.0
    assert metrics.exact_match("hypertension", "essential hypertension") == 0.0
    assert metrics.exact_match("", "") == 1.0


def test_rouge_l_identical_and_disjoint():
    assert metrics.rouge_l("pt admitted with chest pain", "pt admitted with chest pain") == pytest.approx(1.0)
    assert metrics.rouge_l("fever and cough", "no rash seen") == 0.0


def test_rouge_l_matches_hand_computed_lcs():
    pred, ref = "pt has htn and dm", "pt with dm has htn"  # short words: stemming changes nothing
    p, r = pred.split(), ref.split()
    lcs = _lcs(p, r)
    assert lcs == 3  # "pt has htn"
    precision, recall = lcs / len(p), lcs / len(r)
    assert metrics.rouge_l(pred, ref) == pytest.approx(2 * precision * recall / (precision + recall))


def test_score_answers_columns_and_nan_for_long_tasks():
    df = _table()
    scored = metrics.score_answers(df, "pred")
    assert list(df.columns) == ["task", "answer", "pred"]  # input left alone
    assert {"rouge_l", "token_f1", "exact_match"} <= set(scored.columns)
    assert scored["exact_match"].dtype == float
    assert scored["exact_match"].tolist()[:2] == [1.0, 0.0]
    assert scored["exact_match"].iloc[2:].isna().all()
    assert scored["token_f1"].tolist() == pytest.approx([1.0, 2 / 3, 1.0, 0.0])
    assert scored["rouge_l"].iloc[2] == pytest.approx(1.0) and scored["rouge_l"].iloc[3] == 0.0


@pytest.mark.parametrize("drop", ["pred", "answer", "task"])
def test_score_answers_names_missing_column(drop):
    with pytest.raises(WorkbookError) as err:
        metrics.score_answers(_table().drop(columns=[drop]), "pred")
    message = str(err.value)
    assert repr(drop) in message and "\n" not in message


def test_by_task_overall_row_and_counts():
    table = metrics.by_task(metrics.score_answers(_table(), "pred"))
    assert table.index.name == "task"
    assert list(table.index) == ["Abbreviation Expansion", "Question Answering", "Summarization", "overall"]
    assert table["n"].tolist() == [2, 1, 1, 4]
    assert table.loc["Abbreviation Expansion", "token_f1"] == pytest.approx((1 + 2 / 3) / 2)
    assert table.loc["overall", "token_f1"] == pytest.approx((1 + 2 / 3 + 1 + 0) / 4)
    assert table.loc["overall", "exact_match"] == pytest.approx(0.5)  # only the two short-answer rows
    assert math.isnan(table.loc["Summarization", "exact_match"])


def test_compare_difference_is_last_minus_first():
    df = _table()
    base = metrics.score_answers(df.assign(pred="unrelated words"), "pred")
    tuned = metrics.score_answers(df, "pred")
    table = metrics.compare({"base": base, "fine-tuned": tuned}, metric="token_f1")
    assert list(table.columns) == ["base", "fine-tuned", "difference"]
    assert table.index[-1] == "overall" and len(table) == 4
    assert (table["difference"] >= 0).all() and table.loc["overall", "difference"] > 0
    assert table["difference"].tolist() == pytest.approx((table["fine-tuned"] - table["base"]).tolist())
    flipped = metrics.compare({"fine-tuned": tuned, "base": base}, metric="token_f1")
    assert flipped.loc["overall", "difference"] == pytest.approx(-table.loc["overall", "difference"])


# --- AUROC (notebook 05), against scikit-learn ---------------------------------------------------------------

def _rng():
    import numpy as np

    return np.random.default_rng(7)


def test_binary_auroc_matches_sklearn_with_ties():
    import numpy as np
    from sklearn.metrics import roc_auc_score

    rng = _rng()
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300) + 0.4 * y, 1)  # rounding makes many ties
    assert metrics.binary_auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert metrics.binary_auroc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert metrics.binary_auroc([0, 1], [0.5, 0.5]) == 0.5
    assert metrics.task_auroc("binary", y, np.stack([1 - s, s], 1)) == pytest.approx(roc_auc_score(y, s))


def test_multiclass_one_vs_rest_and_one_vs_one_match_sklearn():
    import numpy as np
    from sklearn.metrics import roc_auc_score

    rng = _rng()
    y = rng.integers(0, 4, 400)
    p = rng.dirichlet(np.ones(4), 400)
    p[np.arange(400), y] += 0.25
    p /= p.sum(1, keepdims=True)
    assert metrics.ovr_auroc(y, p) == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro"))
    assert metrics.ovo_auroc(y, p) == pytest.approx(roc_auc_score(y, p, multi_class="ovo", average="macro"))
    assert metrics.task_auroc("multiclass", y, p) == metrics.ovr_auroc(y, p)


def test_multilabel_auroc_skips_a_constant_label_column():
    import numpy as np
    from sklearn.metrics import roc_auc_score

    rng = _rng()
    y = rng.integers(0, 2, (200, 5))
    y[:, 2] = 0  # no positive in the test split: AUROC undefined for this label, so it is left out
    s = rng.random((200, 5)) + 0.3 * y
    value, used = metrics.multilabel_auroc(y, s)
    assert used == 4
    assert value == pytest.approx(np.mean([roc_auc_score(y[:, j], s[:, j]) for j in (0, 1, 3, 4)]))


def test_auroc_single_class_is_one_clear_error():
    with pytest.raises(WorkbookError, match="both classes"):
        metrics.binary_auroc([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(WorkbookError, match="No label"):
        metrics.multilabel_auroc([[1, 0], [1, 0]], [[0.2, 0.1], [0.3, 0.4]])
    with pytest.raises(WorkbookError, match="kind"):
        metrics.task_auroc("regression", [0, 1], [0.1, 0.2])


def test_paired_intervals_per_task_contain_their_estimates_and_resolve_a_clear_gain():
    tasks = ["Abbreviation Expansion"] * 12 + ["Summarization"] * 12
    base = pd.DataFrame({"task": tasks, "token_f1": [0.0, 0.1] * 12})
    tuned = base.assign(token_f1=[0.8, 0.9] * 6 + [0.1, 0.0] * 6)  # better on one task, the same mean on the other
    table = metrics.paired_intervals({"base": base, "fine-tuned": tuned}, "token_f1")
    assert list(table.index) == ["Abbreviation Expansion", "Summarization", "overall"]
    assert (table["low"] <= table["difference"]).all() and (table["difference"] <= table["high"]).all()
    assert table.loc["Abbreviation Expansion", "difference"] == pytest.approx(0.8)
    assert table.loc["Abbreviation Expansion", "better"]
    assert not table.loc["Summarization", "better"]
    assert table.loc["overall", "n"] == 24


def test_opens_like_checks_the_answer_form_not_its_facts():
    assert metrics.opens_like("'it' refers to heparin.", "'it' refers to IV ceftriaxone.") == 1.0
    assert metrics.opens_like("IV ceftriaxone.", "'it' refers to IV ceftriaxone.") == 0.0
    assert metrics.opens_like("anything", "") == 0.0


def test_paired_intervals_make_no_claim_for_a_task_with_one_question():
    base = pd.DataFrame({"task": ["Summarization", "Paraphrasing", "Paraphrasing"], "token_f1": [0.0, 0.0, 0.1]})
    tuned = base.assign(token_f1=[1.0, 0.5, 0.6])
    table = metrics.paired_intervals({"base": base, "fine-tuned": tuned}, "token_f1")
    assert math.isnan(table.loc["Summarization", "low"]) and not table.loc["Summarization", "better"]
    assert table.loc["Paraphrasing", "better"]
