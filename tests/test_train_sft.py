"""The SFT entry point for more than one process (issue 13), on one process here: what it reports, what it saves,
that its configuration is notebook 03's, and one sentence for too many processes."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import nbformat
import pytest

from helpers import train_sft
from helpers.runtime import Runtime, WorkbookError

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOK_03 = NOTEBOOKS / "03_lora_sft.ipynb"
CPU = Runtime(track="cpu", reason="test", device="cpu", precision="fp32", on_colab=False)


def notebook_keywords(call: str, notebook: Path = NOTEBOOK_03) -> set[str]:
    """The keyword names of a notebook's ``call(...)`` (LoraConfig or SFTConfig), read from its cell."""
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code" and f"= {call}(" in cell.source:
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == call:
                    return {k.arg for k in node.keywords}
    raise AssertionError(f"no {call}(...) cell in {notebook.name}")


def test_the_script_and_notebook_03_configure_the_same_training():
    settings = {"max_steps": 4, "batch_size": 2, "grad_accum": 1, "lr": 5e-3}
    script = set(train_sft.sft_keywords(CPU, "out", settings, 1024, 0, world_size=2))
    notebook = notebook_keywords("SFTConfig")
    # the notebook checkpoints and scores a validation set; the script runs one short pass and reports its loss
    assert notebook - script == {"save_steps", "save_total_limit", "eval_strategy", "eval_steps", "eval_on_start",
                                 "per_device_eval_batch_size"}
    assert script - notebook == {"disable_tqdm", "ddp_backend", "use_cpu"}
    assert notebook_keywords("LoraConfig") == set(train_sft.lora_keywords(16, 32, 0.05))
    assert train_sft.sft_keywords(CPU, "out", settings, 1024, 0, world_size=2)["ddp_backend"] == "gloo"
    assert train_sft.sft_keywords(CPU, "out", settings, 1024, 0, world_size=1)["ddp_backend"] is None


def test_notebook_04_writes_notebook_03s_configuration():
    """04 types its own LoraConfig and SFTConfig (the lesson is in the cell); only their values may differ."""
    for call in ("LoraConfig", "SFTConfig"):
        assert notebook_keywords(call, NOTEBOOKS / "04_qlora_sft.ipynb") == notebook_keywords(call), call


def test_the_scripts_qlora_base_is_notebook_04s():
    """--qlora builds notebook 04's BitsAndBytesConfig; it adds only the storage dtype FSDP and ZeRO-3 need."""
    script = set(train_sft.bnb_keywords(CPU))
    assert script - notebook_keywords("BitsAndBytesConfig", NOTEBOOKS / "04_qlora_sft.ipynb") == {
        "bnb_4bit_quant_storage"}
    assert notebook_keywords("BitsAndBytesConfig", NOTEBOOKS / "04_qlora_sft.ipynb") <= script


def test_one_process_trains_reports_and_saves_an_adapter(tmp_path, monkeypatch):
    from trl.trainer import utils as trl_utils

    monkeypatch.setattr(trl_utils, "_use_triton", trl_utils._use_triton)  # the script patches it; undone after
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    report = train_sft.main(["--out", str(tmp_path), "--max-steps", "2", "--batch-size", "2", "--n-train", "16"])
    assert report["world_size"] == report["processes_launched"] == 1 and report["steps"] == 2
    assert len(report["losses"]) == 2 and all(0 < loss < 20 for loss in report["losses"])
    assert report["effective_batch"] == 2 and report["tokens_per_second"] > 0 and report["strategy"] == "single"
    held = report["rank_bytes"][0]  # one rank holds the whole LoRA state: 2 AdamW moments per adapter weight
    assert held["optimizer states"] == 2 * held["LoRA parameters"] > 0 and held["frozen weights"] > 0
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()


def test_more_processes_than_cores_is_one_sentence():
    with pytest.raises(WorkbookError, match="--nproc_per_node"):
        train_sft.check_world((os.cpu_count() or 1) + 1, "cpu")
    train_sft.check_world(1, "cpu")


def test_two_processes_train_exactly_like_one_at_the_same_effective_batch(tmp_path):
    """torchrun starts two ranks (gloo on CPU), 2 notes each per step, against one process with 4: the same
    examples in every step, so the losses and the adapter must agree up to float summation order."""
    import subprocess
    import sys

    from safetensors.torch import load_file

    common = ["--max-steps", "4", "--n-train", "64"]
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    runs = {"one": [sys.executable, "-m", "helpers.train_sft", "--out", str(tmp_path / "one"), "--batch-size", "4"],
            "two": [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    "-m", "helpers.train_sft", "--out", str(tmp_path / "two"), "--batch-size", "2"]}
    for name, command in runs.items():
        done = subprocess.run(command + common, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{name} process run failed: {done.stderr[-3000:]}"
    one, two = (json.loads((tmp_path / n / "report.json").read_text()) for n in ("one", "two"))
    assert two["world_size"] == two["processes_launched"] == 2 and one["world_size"] == 1  # really two ranks
    assert one["effective_batch"] == two["effective_batch"] == 4
    assert two["losses"] == pytest.approx(one["losses"], rel=1e-4)  # tolerance: float summation order only
    a, b = (load_file(tmp_path / n / "adapter" / "adapter_model.safetensors") for n in ("one", "two"))
    assert a.keys() == b.keys()
    # after 4 AdamW steps, weights of size ~0.1: Adam divides by the gradient's running RMS, so a weight whose
    # gradient is near zero can move by up to a step's lr (5e-3) on a float-order difference; the losses above
    # carry the exact check, this one bounds the adapters by half a step
    gap = max((a[k] - b[k]).abs().max().item() for k in a)
    assert gap < 2.5e-3, gap
