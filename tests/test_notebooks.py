"""Every notebook in notebooks/ runs headlessly on the CPU track; its recorded results are checked.

A new notebook joins by being added to the folder and by adding a ``check_<name>`` function here.
"""

from __future__ import annotations

import json
import math

import nbformat
import pytest

from helpers.runner import execute, series

NOTEBOOKS = series()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_clean_and_shaped(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} is committed with outputs"
    tags = [t for c in nb.cells for t in c.get("metadata", {}).get("tags", [])]
    assert tags.count("parameters") == 1, f"{path.name} needs one cell tagged 'parameters'"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert text.lstrip().startswith("# ") and "objectives" in text.lower()
    for heading in ("## Summary", "## Exercises"):
        assert heading in text, f"{path.name} lacks {heading}"
    assert "helpers.record(" in nb.cells[-1].source, f"{path.name} must end with helpers.record(...)"


def check_01_lm_basics(r: dict) -> None:
    """Perplexity falls by more than half; the numbers hang together."""
    assert r["track"] == "cpu"
    assert r["ppl_after"] < 0.5 * r["ppl_before"]
    assert 0.5 * r["uniform_ppl"] < r["ppl_before"] < 2 * r["uniform_ppl"]  # untrained ~ uniform guess
    assert r["ppl_pretrained_tiny"] < r["ppl_before"] / 10
    assert r["last_loss"] < r["first_loss"] - 1.0
    assert abs(r["first_loss"] - math.log(r["uniform_ppl"])) < 1.0
    assert 0 < r["top1_probability"] <= r["topk_probability_mass"] <= 1
    assert r["clinical_tokens"] > 0 and r["plain_tokens"] > 0
    assert r["sample_after"] and r["sample_after"] != r["sample_before"]
    assert len(set(r["samples"].values())) >= 3  # the decoding strategies really differ


def check_02_gpu_memory_math(r: dict) -> None:
    """phi-2's bill, checked against arithmetic done here from the config, not from the estimator."""
    from helpers.models import phi2_config

    c = phi2_config()
    h, f, v, n = c.hidden_size, c.intermediate_size, c.vocab_size, c.num_hidden_layers
    per_layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 2 * h
    params = v * h + n * per_layer + 2 * h + (h * v + v)
    assert r["phi2_parameters"] == params
    full_static = r["static_gib"]["full fine-tuning"] * 2**30
    assert abs(full_static - 16 * params) / (16 * params) < 1e-4  # fp32 weights + fp32 grads + two fp32 moments
    assert r["fits"] == {"inference fp16": True, "full fine-tuning": False, "LoRA fp16": True, "QLoRA NF4": True}
    t = r["totals_gib"]
    assert t["QLoRA NF4"] < t["LoRA fp16"] < r["gpu_gib"] < t["full fine-tuning"]
    assert r["static_gib"]["QLoRA NF4"] < 0.4 * r["static_gib"]["LoRA fp16"]
    assert all(abs(e) < 0.15 for e in r["activation_check_error"].values())
    assert all(abs(e) < 0.01 for e in r["static_check_error"].values())
    assert r["footprint_undercount_bytes"] > 0 and r["qlora_largest_batch_1024"] >= 1
    minutes = r["minutes_on_t4"]
    ratio = (4 + 2 * r["grad_checkpointing"]) / (6 + 2 * r["grad_checkpointing"])
    assert minutes["LoRA fp16"] / minutes["full fine-tuning"] == pytest.approx(ratio)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_cpu_track(path, tmp_path):
    row = execute(path, tmp_path, track="cpu")
    assert row["status"] == "pass", f"{path.name} failed: {row['error']} (see {tmp_path / path.name})"
    results = json.loads((tmp_path / f"{path.stem}.json").read_text())
    check = globals().get(f"check_{path.stem}")
    assert check is not None, f"add check_{path.stem}(results) to tests/test_notebooks.py"
    check(results)
    print(f"{path.stem}: {row['seconds']} s")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_understands_every_parameter(path):
    import papermill as pm

    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names = [line.split("=")[0].strip() for line in cell.source.splitlines() if line and line[0].isupper()]
    found = set(pm.inspect_notebook(str(path)))
    assert "TRACK" in names and "SEED" in names
    assert set(names) == found, f"papermill cannot parse {set(names) - found}: no '=' in parameter comments"
    for line in cell.source.splitlines():
        assert "#" in line, f"parameter without a trailing comment: {line!r}"
