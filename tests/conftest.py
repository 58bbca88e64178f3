"""Shared fixtures: a small cached tiny model in a temporary cache, and a tiny QA table."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from helpers.pretrain import TinySettings

# The unit tests need a model of the right shape that has learnt some text, not one that copies: 40 copy steps
# instead of 1,500 (8 s to build instead of 61 s). tests/test_models.py judges the copying curriculum on its own.
SMALL = TinySettings(n_notes=120, n_general=400, vocab_size=400, hidden_size=32, num_layers=2, num_heads=2,
                     intermediate_size=64, max_positions=256, block_size=64, steps=80, batch_size=8,
                     recall_steps=10, recall_rows=3, recall_length=128, copy_steps=40)


@pytest.fixture(scope="session")
def small_cache(tmp_path_factory):
    """A temporary model cache, so unit tests never touch the real one."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def small_lm(small_cache):
    """A small tiny-Phi (model, tokenizer) built once per test session in the temporary cache."""
    from helpers import models

    with pytest.MonkeyPatch.context() as mp:  # only while building: later tests see the real cache
        mp.setenv(models.CACHE_ENV, str(small_cache))
        model, tokenizer = models.load_tiny_lm(SMALL, verbose=False)
    return model, models.ensure_pad_token(tokenizer)


@pytest.fixture
def qa_table() -> pd.DataFrame:
    """Twelve QA rows for six patients, in the Asclepius schema."""
    rows = []
    for p in range(6):
        for q in range(2):
            rows.append({"patient_id": f"P{p}", "note": f"Pt {p} admitted with CP. " * (p + 1),
                         "question": f"Question {q}?", "answer": f"Answer {p}-{q}.", "task": "Question Answering"})
    return pd.DataFrame(rows)


@pytest.fixture
def fake_colab(monkeypatch):
    """Call it with a dict to pretend to run in Colab, whose Secrets panel (shared with the notebook) holds it."""

    def install(secrets: dict) -> None:
        def get(name):
            if name not in secrets:
                raise KeyError(f"Secret {name} does not exist.")  # Colab raises SecretNotFoundError
            return secrets[name]

        userdata = types.ModuleType("google.colab.userdata")
        userdata.get = get
        colab = types.ModuleType("google.colab")
        colab.userdata = userdata
        google = types.ModuleType("google")
        google.colab = colab
        for name, module in (("google", google), ("google.colab", colab), ("google.colab.userdata", userdata)):
            monkeypatch.setitem(sys.modules, name, module)

    return install


def load_workbook():
    """workbook.py as a fresh module (it is a script, not part of the helpers package)."""
    spec = importlib.util.spec_from_file_location("workbook", Path(__file__).resolve().parent.parent / "workbook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
