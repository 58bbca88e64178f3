"""Rules of thumb, the GPU memory we budget against, the largest batch that fits, time math and time
predictions, and the widget fallback."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from helpers import budget, memory, runtime, widgets
from helpers.memory import Batch, Setup
from helpers.models import phi2_on_meta
from helpers.runtime import WorkbookError


@pytest.fixture(scope="module")
def phi2():
    return phi2_on_meta()


def test_rules_of_thumb_for_phi2(phi2):
    n = phi2.num_parameters()
    rules = budget.rules_of_thumb(n)
    assert rules["slide: training, low (6 B/param)"] / 1e9 == pytest.approx(2.78 * 6, rel=0.01)  # slide: 16.2 GB
    assert rules["accelerate: float16 'Training using Adam'"] == 4 * rules["slide: fp16 weights (2 B/param)"]


def test_largest_batch_is_the_boundary(phi2):
    setup, t4 = Setup(method="qlora", weights="nf4", optimizer="paged_adamw_8bit"), runtime.T4_TORCH_GIB
    best = budget.largest_batch(phi2.config, setup, 1024, t4, checkpointing=True)
    assert best >= 1
    assert memory.estimate(phi2, setup, Batch(batch_size=best, seq_len=1024, grad_checkpointing=True)).fits(t4)
    assert not memory.estimate(phi2, setup, Batch(batch_size=best + 1, seq_len=1024,
                                                  grad_checkpointing=True)).fits(t4)
    assert budget.largest_batch(phi2.config, setup, 1024, 1.0, checkpointing=True) == 0


def test_training_flops_and_time():
    n, t = 2.78e9, 1e6
    assert budget.training_flops(n, t, "full", False) == 6 * n * t
    assert budget.training_flops(n, t, "lora", False) == 4 * n * t
    assert budget.training_flops(n, t, "qlora", True) == 6 * n * t
    assert budget.wall_time_seconds(65e12 * 0.3, 65.0, 0.3) == pytest.approx(1.0)


CPU = SimpleNamespace(track="cpu", device="cpu", gpu_name=None)
T4 = SimpleNamespace(track="gpu", device="cuda", gpu_name="Tesla T4")
H100 = SimpleNamespace(track="gpu", device="cuda", gpu_name="NVIDIA H100 80GB HBM3", total_gib=79.2, emulated_t4=False)
H100_AS_T4 = SimpleNamespace(track="gpu", device="cuda", gpu_name="NVIDIA H100 80GB HBM3", total_gib=14.74,
                             emulated_t4=True)


def test_gpu_gib_is_what_torch_sees():
    assert runtime.T4_TORCH_GIB == pytest.approx(15.83e9 / 2**30, abs=0.01)
    assert runtime.T4_TORCH_GIB < runtime.T4_NVIDIA_SMI_MIB / 1024  # torch sees less than nvidia-smi prints
    assert budget.gpu_gib(CPU) == runtime.T4_TORCH_GIB and "no CUDA GPU" in budget.gpu_gib_source(CPU)
    assert budget.gpu_gib(H100) == pytest.approx(79.2) and "H100" in budget.gpu_gib_source(H100)
    assert budget.gpu_gib(H100_AS_T4) == runtime.T4_TORCH_GIB
    assert "WORKBOOK_EMULATE_T4" in budget.gpu_gib_source(H100_AS_T4)


@pytest.fixture
def no_measurements(monkeypatch, tmp_path):
    monkeypatch.setattr(budget, "MEASUREMENTS", tmp_path / "missing.json")


def phi2_parameters() -> int:
    """phi-2's parameters from its config by hand: embeddings, 32 layers, final norm, lm_head."""
    from helpers.models import phi2_config

    c = phi2_config()
    h, f, v = c.hidden_size, c.intermediate_size, c.vocab_size
    layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 2 * h
    return v * h + c.num_hidden_layers * layer + 2 * h + (h * v + v)


def test_predicted_minutes_for_lora_and_qlora(no_measurements):
    from helpers.sft import TRACK_DEFAULTS

    n, g = phi2_parameters(), TRACK_DEFAULTS["gpu"]
    tokens = g["max_steps"] * g["batch_size"] * g["grad_accum"] * budget.ASCLEPIUS_MEAN_TOKENS  # x tokens per example
    minutes = 6 * n * tokens / (65e12 * 0.3) / 60  # LoRA (4) + checkpointing (2) FLOPs per parameter and token
    lora = budget.predicted_minutes("03_lora_sft")
    assert lora["tokens"] == tokens and lora["flops"] == 6 * n * tokens and lora["basis"] == "estimated"
    assert lora["minutes"] == pytest.approx(minutes) and "ASCLEPIUS_MEAN_TOKENS" in lora["assumption"]
    qlora = budget.predicted_minutes("04_qlora_sft")
    assert qlora["flops"] == lora["flops"] and qlora["minutes"] == pytest.approx(minutes * budget.QLORA_SLOWDOWN)
    half = {"max_steps": g["max_steps"] // 2}
    assert budget.predicted_minutes("03_lora_sft", half)["minutes"] == pytest.approx(minutes / 2)
    short = budget.predicted_minutes("03_lora_sft", {"max_length": 256})  # no example is longer than MAX_LENGTH
    assert short["tokens"] == g["max_steps"] * 8 * 256
    assert budget.predicted_minutes("03_lora_sft", utilisation=0.15)["minutes"] == pytest.approx(2 * minutes)


def test_predicted_minutes_for_the_two_stage_classifier(no_measurements):
    from helpers.classify import TRACK_DEFAULTS

    n, note, g = phi2_parameters(), budget.ADMISSION_NOTE_TOKENS, TRACK_DEFAULTS["gpu"]
    stage1 = g["stage1_steps"] * g["stage1_batch"] * 512  # steps x batch x block
    ppl = 4 * 64 * 512  # 64 train + 64 test blocks, before and after
    per_variant = g["epochs"] * g["n_train"] * note  # epochs x training notes x tokens
    scored = 6 * g["n_notes"] // 10 * note  # six variants score 10% of the notes
    # checkpointing (GPU track): LoRA 4 + 2 recomputed; a and c train the head only: forward FLOPs
    flops = 6 * n * stage1 + 2 * n * ppl + (4 * 6 + 2 * 2) * n * per_variant + 2 * n * scored
    p = budget.predicted_minutes("05_two_stage_classifier")
    assert p["tokens"] == stage1 + ppl + 6 * per_variant + scored
    assert p["flops"] == pytest.approx(flops) and p["minutes"] == pytest.approx(flops / (65e12 * 0.3) / 60)
    per_task = budget.predicted_minutes("05_two_stage_classifier", {"one_model_per_task": True, "variants": "b"})
    assert per_task["parts"]["stage 2 training"] == (5 * per_variant, 6 * n * 5 * per_variant)
    with pytest.raises(WorkbookError, match="01_lm_basics"):
        budget.predicted_minutes("01_lm_basics")


def test_measured_throughput_replaces_the_estimate(monkeypatch, tmp_path):
    path = tmp_path / "t4_tokens_per_second.json"
    path.write_text(json.dumps({"04_qlora_sft": {"tokens_per_second": 800.0, "how": "a test"}}))
    monkeypatch.setattr(budget, "MEASUREMENTS", path)
    lora = budget.predicted_minutes("03_lora_sft", tokens_per_second=1000.0)
    assert lora["basis"] == "measured" and lora["minutes"] == pytest.approx(lora["tokens"] / 1000 / 60)
    assert lora["utilisation"] == pytest.approx(lora["flops"] / (lora["tokens"] / 1000) / 65e12)
    qlora = budget.predicted_minutes("04_qlora_sft")  # from the file; the slowdown is in the measurement
    assert qlora["minutes"] == pytest.approx(qlora["tokens"] / 800 / 60) and qlora["slowdown"] == 1.0
    assert "800 tokens/s" in budget.time_line("04_qlora_sft", T4)


def test_announce_time_prints_one_honest_line(no_measurements, capsys):
    minutes = budget.predicted_minutes("03_lora_sft")["minutes"]
    budget.announce_time("03_lora_sft", T4)
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and f"about {round(minutes)} min" in line and "not yet measured on a T4" in line
    assert "30% utilisation" in line and "expect a different time" not in line
    assert "expect a different time" in budget.time_line("03_lora_sft", H100)
    budget.announce_time("03_lora_sft", CPU, {"max_steps": 100})
    line = capsys.readouterr().out
    assert "depends on this machine" in line and "min" not in line.replace("minute", "")


def test_calculator_draws_once_when_headless(monkeypatch, capsys):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    calls = []

    class Control:
        value = 3

    widgets.calculator(lambda rank: calls.append(rank), rank=Control())
    assert calls == [3] and "Headless run" in capsys.readouterr().out
