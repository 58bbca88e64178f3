"""T4 emulation settings, mixed precision on a half-precision body, and the finite-loss stop."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import TrainerControl, TrainerState, TrainingArguments

from helpers import gpu, runtime
from helpers.runtime import WorkbookError


def test_require_finite_stops_with_one_sentence():
    gpu.require_finite(1.5, "loss")
    gpu.require_finite(torch.ones(3), "logits")
    for bad in (math.nan, math.inf, torch.tensor([1.0, math.nan])):
        with pytest.raises(WorkbookError, match="is not finite") as err:
            gpu.require_finite(bad, "training loss")
        assert "\n" not in str(err.value)


def test_finite_loss_callback_stops_training_on_a_nan_log(tmp_path):
    callback = gpu.finite_loss_callback()
    args, state, control = TrainingArguments(str(tmp_path), report_to="none"), TrainerState(), TrainerControl()
    state.global_step = 7
    callback.on_log(args, state, control, logs={"loss": 2.5})
    with pytest.raises(WorkbookError, match="training loss at step 7 is not finite"):
        callback.on_log(args, state, control, logs={"loss": float("nan")})


def test_autocast_and_scaler_follow_the_body_dtype():
    fp32, fp16 = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2).half()
    assert not gpu.grad_scaler(fp32).is_enabled() and gpu.grad_scaler(fp16).is_enabled()
    with gpu.autocast(fp16):
        assert torch.is_autocast_enabled("cpu")
    with gpu.autocast(fp32):
        assert not torch.is_autocast_enabled("cpu")


def test_emulation_switch_reads_the_environment(monkeypatch):
    monkeypatch.delenv(runtime.EMULATE_ENV, raising=False)
    assert not runtime.emulating_t4()
    monkeypatch.setenv(runtime.EMULATE_ENV, "1")
    assert runtime.emulating_t4() and runtime.T4_TORCH_GIB == pytest.approx(15.83e9 / 2**30, abs=0.01)
