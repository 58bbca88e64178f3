"""The GPU track's settings, as far as a CPU allows: notebooks 03, 04 and 05 with a phi-2-shaped model from a local
folder, data from a CSV, fp16 weights (autocast and a GradScaler where the notebook trains by hand), gradient
checkpointing, and a few steps. What a CPU cannot run (paged 8-bit AdamW, CUDA kernels, a T4's memory) is
checked as configuration instead: see test_sft.py and test_runtime.py.
"""

from __future__ import annotations

import math

import pytest
from test_notebooks import ANY_SCALE, check_prose

from helpers import data, gpucheck
from helpers.runner import NOTEBOOKS, execute

# fp16 on a CPU is slow (phi-2's 51,200-word head on every token): short notes and few blocks (186 s -> 126 s for all)
SMALL = {"N_TRAIN": 16, "N_TEST": 8, "N_VAL": 4, "MAX_NOTE_CHARS": 1800, "MAX_STEPS": 2, "BATCH_SIZE": 2,
         "GRAD_ACCUM": 2, "GRAD_CHECKPOINTING": True, "MAX_NEW_TOKENS": 8, "SAVE_STEPS": 1}
PARAMETERS = {
    "03_lora_sft": {**SMALL, "JUDGE_MODE": "off"},
    "04_qlora_sft": {**SMALL, "DOUBLE_QUANT": False},
    "05_two_stage_classifier": {"N_NOTES": 300, "N_TRAIN": 48, "STAGE1_MAX_STEPS": 2, "EPOCHS": 1, "VARIANTS": "af",
                                "NOTE_TOKENS": 64, "BATCH_SIZE": 8, "GRAD_CHECKPOINTING": True,
                                "STAGE1_BLOCK_SIZE": 128, "STAGE1_EVAL_NOTES": 20, "STAGE1_EVAL_BLOCKS": 2},
}


@pytest.fixture(scope="module")
def gpu_like(tmp_path_factory):
    """A phi-2-shaped random model (phi-2's head size, rotary share and activation; narrower, 2 layers) saved with
    save_pretrained, and the synthetic notes as a CSV with the Hub's Asclepius column names."""
    root = tmp_path_factory.mktemp("gpu-like")
    model_dir = gpucheck.save_phi2_shaped(root / "phi2-shaped", hidden_size=160, num_layers=2)
    csv = root / "asclepius.csv"
    data.load_notes("synthetic", n_notes=300).rename(columns={"note": "patient"}).to_csv(csv, index=False)  # Hub names
    return model_dir, csv


@pytest.fixture(scope="module")
def runs(gpu_like, tmp_path_factory):
    """Each notebook executed once with the GPU settings on the CPU; their records by name."""
    model_dir, csv = gpu_like
    out = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBOOK_PRECISION", "fp16")
        mp.setenv("HF_HUB_OFFLINE", "1")
        results = {name: execute(NOTEBOOKS / f"{name}.ipynb", out, "cpu",
                                 parameters={"MODEL": str(model_dir), "DATA_SOURCE": str(csv), **params})
                   for name, params in PARAMETERS.items()}
    return results


@pytest.mark.parametrize("name", list(PARAMETERS))
def test_notebook_runs_with_the_gpu_settings(runs, name):
    result = runs[name]
    assert result["status"] == "pass", result["error"]
    r = result["metrics"]
    assert r["precision"] == "fp16"


def test_03_trains_in_fp16_with_less_padding(runs):
    r = runs["03_lora_sft"]["metrics"]
    assert math.isfinite(r["last_loss"]) and r["steps"] == 2
    assert r["padding_share"]["grouped by length"] <= r["padding_share"]["random batches"]


def test_04_adapters_stay_fp32_on_an_fp16_quantized_base(runs):
    r = runs["04_qlora_sft"]["metrics"]
    assert r["trainable_dtypes_from_trl"].get("bfloat16", 0) > 0  # the trap is real in this TRL version
    assert r["trainable_dtypes"] == ["torch.float32"] and r["double_quant"] is False
    assert math.isfinite(r["last_loss"])


def test_05_one_model_at_a_time_and_fp16_stage1(runs):
    r = runs["05_two_stage_classifier"]["metrics"]
    assert all(r["wiring_ok"].values()) and r["stage1_checkpointing"] and r["classifier_checkpointing"]
    assert not r["lm_alive_after_stage1"] and r["wrapped_models_alive"] == 0
    assert math.isfinite(r["ppl_after"]["test"])


@pytest.mark.parametrize("name", list(ANY_SCALE))
def test_the_prose_that_holds_at_any_scale_holds_on_the_gpu_settings(runs, name):
    check_prose(name, runs[name]["metrics"], ANY_SCALE[name])
