"""Rules of thumb, the largest batch that fits, time math, and the widget fallback."""

from __future__ import annotations

import pytest

from helpers import budget, memory, widgets
from helpers.activations import Batch
from helpers.memory import Setup
from helpers.models import phi2_on_meta


@pytest.fixture(scope="module")
def phi2():
    return phi2_on_meta()


def test_rules_of_thumb_for_phi2(phi2):
    n = phi2.num_parameters()
    rules = budget.rules_of_thumb(n)
    assert rules["slide: training, low (6 B/param)"] / 1e9 == pytest.approx(2.78 * 6, rel=0.01)  # slide: 16.2 GB
    assert rules["accelerate: float16 'Training using Adam'"] == 4 * rules["slide: fp16 weights (2 B/param)"]


def test_largest_batch_is_the_boundary(phi2):
    setup = Setup(method="qlora", weights="nf4", optimizer="paged_adamw_8bit")
    best = budget.largest_batch(phi2.config, setup, 1024, 15.0, checkpointing=True)
    assert best >= 1
    assert memory.estimate(phi2, setup, Batch(batch_size=best, seq_len=1024, grad_checkpointing=True)).fits(15.0)
    assert not memory.estimate(phi2, setup, Batch(batch_size=best + 1, seq_len=1024,
                                                  grad_checkpointing=True)).fits(15.0)
    assert budget.largest_batch(phi2.config, setup, 1024, 1.0, checkpointing=True) == 0


def test_training_flops_and_time():
    n, t = 2.78e9, 1e6
    assert budget.training_flops(n, t, "full", False) == 6 * n * t
    assert budget.training_flops(n, t, "lora", False) == 4 * n * t
    assert budget.training_flops(n, t, "qlora", True) == 6 * n * t
    assert budget.wall_time_seconds(65e12 * 0.3, 65.0, 0.3) == pytest.approx(1.0)


def test_calculator_draws_once_when_headless(monkeypatch, capsys):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    calls = []

    class Control:
        value = 3

    widgets.calculator(lambda rank: calls.append(rank), rank=Control())
    assert calls == [3] and "Headless run" in capsys.readouterr().out
