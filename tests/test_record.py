"""record() writes JSON beside the executed notebook."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers.record import OUTPUT_DIR_ENV, load_record, record


def test_record_writes_plain_json(tmp_path, monkeypatch):
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path))
    path = record("99_demo", ppl=np.float32(2.5), steps=torch.tensor(7), pair=(1, 2), bad=float("nan"))
    assert path == tmp_path / "99_demo.json"
    data = load_record(path)
    assert data["notebook"] == "99_demo" and data["ppl"] == 2.5 and data["steps"] == 7
    assert data["pair"] == [1, 2] and data["bad"] is None
    json.loads(path.read_text())


def test_record_needs_metrics():
    with pytest.raises(ValueError, match="no metrics"):
        record("99_demo")
