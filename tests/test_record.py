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


def test_results_reach_the_next_colab_runtime_through_drive(tmp_path, monkeypatch):
    """Colab gives notebook 04 a fresh runtime: 03's local record is gone, the copy in Drive is not."""
    import importlib

    rec = importlib.import_module("helpers.record")  # the module (helpers.record is also the function's name)

    drive = tmp_path / "MyDrive"
    monkeypatch.setattr(rec, "DRIVE_ROOT", drive)
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path / "runtime-03"))
    assert rec.drive_results() is None
    drive.mkdir()  # what drive.mount() does
    record("03_lora_sft", tokens_per_second=123.0)
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path / "runtime-04"))  # a new runtime: nothing local
    assert rec.previous_results("03_lora_sft")["tokens_per_second"] == 123.0
    monkeypatch.setattr(rec, "DRIVE_ROOT", tmp_path / "unmounted")
    assert rec.previous_results("03_lora_sft") is None
