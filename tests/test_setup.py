"""The set-up: pinned requirements without torch, and a torch install that never pulls CUDA on a CPU machine."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {"transformers", "peft", "trl", "datasets", "bitsandbytes", "accelerate", "matplotlib",
            "ipywidgets", "papermill", "nbval"}


def _workbook():
    spec = importlib.util.spec_from_file_location("workbook", ROOT / "workbook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_requirements_are_pinned_and_leave_torch_out():
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    pins = dict(line.split("==") for line in lines if line)
    assert REQUIRED <= set(pins)
    assert all(re.fullmatch(r"\d+(\.\d+)+", v) for v in pins.values())
    assert "torch" not in pins


@pytest.mark.parametrize("gpu, expected", [(False, "torch==2.13.0+cpu"), (True, "torch==2.13.0")])
def test_torch_install_picks_the_build_for_the_machine(monkeypatch, gpu, expected):
    wb = _workbook()
    calls = []
    monkeypatch.setattr(wb.subprocess, "call", lambda *a, **k: 1)  # "import torch" fails: not installed
    monkeypatch.setattr(wb, "has_nvidia_gpu", lambda: gpu)
    monkeypatch.setattr(wb, "pip", lambda *args: calls.append(args) or 0)
    wb.install_torch()
    assert calls == [(expected,)]


def test_torch_install_never_falls_back_to_cuda_wheels_on_cpu(monkeypatch):
    wb = _workbook()
    calls = []
    monkeypatch.setattr(wb.subprocess, "call", lambda *a, **k: 1)
    monkeypatch.setattr(wb, "has_nvidia_gpu", lambda: False)
    monkeypatch.setattr(wb, "pip", lambda *args: calls.append(args) or 1)
    with pytest.raises(SystemExit, match="Could not install torch"):
        wb.install_torch()
    assert all(args[0].endswith("+cpu") for args in calls) and len(calls) == 2


def test_ci_calls_the_readme_test_command():
    command = "python3 workbook.py test"
    assert command in (ROOT / "README.md").read_text() and command in (ROOT / ".ci" / "run").read_text()
