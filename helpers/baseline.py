"""A bag-of-words baseline for notebook 05: TF-IDF features and one logistic regression per output.

It reads the same admission-only text, trains on the same notes and returns scores shaped like
``classify.predict``'s (per task: class probabilities, or one probability per code), so the same
``metrics.task_auroc`` scores it and its row sits in the same table as the six LoRA variants. If a
fine-tuned language model cannot beat word counts, its AUROC is not telling us much about the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .outcomes import Labels

MIN_DF = 2  # a word must occur in two training notes: rarer ones only memorise patients
C = 1.0  # inverse L2 strength: scikit-learn's default, not tuned on the test notes


def tfidf_features(train_text: Sequence[str], test_text: Sequence[str]):
    """TF-IDF of words and word pairs, fitted on the training notes only (notebook 05): (train, test) matrices."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=MIN_DF, sublinear_tf=True)
    return vectorizer.fit_transform(list(train_text)), vectorizer.transform(list(test_text))


def _logistic(x_train, y: np.ndarray, x_test, width: int, balanced: bool) -> np.ndarray:
    """P(class k) in column k for each test note, from logistic regression, one-vs-rest beyond two classes (notebook
    05's baseline; liblinear: a tenth of lbfgs's time on these small sparse problems)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    model = LogisticRegression(C=C, solver="liblinear", class_weight="balanced" if balanced else None)
    model = (OneVsRestClassifier(model) if len(np.unique(y)) > 2 else model).fit(x_train, y)
    probs = np.zeros((x_test.shape[0], width))  # a class absent from training keeps probability 0
    probs[:, model.classes_] = model.predict_proba(x_test)
    return probs


def code_scores(x_train, y: np.ndarray, x_test) -> np.ndarray:
    """Multi-label scores (notebook 05): one LR per code with both classes in training, else its training share."""
    out = np.empty((x_test.shape[0], y.shape[1]))
    for j in range(y.shape[1]):
        column = y[:, j].astype(int)
        both = 0 < column.sum() < len(column)
        out[:, j] = _logistic(x_train, column, x_test, 2, balanced=False)[:, 1] if both else column.mean()
    return out


def tfidf_scores(train_text: Sequence[str], test_text: Sequence[str], labels: list[Labels]) -> dict[str, np.ndarray]:
    """Per task column, TF-IDF + logistic-regression test scores shaped like ``classify.predict`` (notebook 05).

    Binary tasks: one class-weighted LR, like the variants' weighted loss; length of stay: one such LR per bucket
    (one-vs-rest), scored one-vs-rest by ``metrics.task_auroc`` as the variants are. Multi-label: ``code_scores``.
    """
    x_train, x_test = tfidf_features(train_text, test_text)
    return {lab.task.column: code_scores(x_train, lab.train, x_test) if lab.task.kind == "multilabel"
            else _logistic(x_train, lab.train, x_test, lab.width, balanced=True) for lab in labels}
