"""The set-up: pinned requirements without torch (Colab's list apart from the local stack), and a torch install
that never pulls CUDA on a CPU machine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import load_workbook
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LESSONS_FILE, DEV_FILE, COLAB_FILE = "requirements.txt", "requirements-dev.txt", "requirements-colab.txt"
# What the lessons and helpers import (torch aside), and what the local runs and tests need on top.
REQUIRED = {"transformers", "tokenizers", "peft", "trl", "datasets", "bitsandbytes", "accelerate", "safetensors",
            "rouge-score", "pandas", "scikit-learn", "matplotlib", "ipywidgets", "ipykernel", "papermill",
            "nbformat", "nbval", "pytest", "ruff"}
# Colab ships these, pinned to each other, or they are tools: its setup cell must not replace them.
NOT_ON_COLAB = ("ipykernel", "jupyter", "notebook", "pytest", "nbval", "papermill", "nbformat", "pandas",
                "matplotlib", "ipywidgets", "ruff")
PINS_BEFORE_THE_SPLIT = {  # every pin requirements.txt held before it was split, kept exactly
    "transformers": "5.23.0", "tokenizers": "0.23.3", "peft": "0.21.2", "trl": "1.16.0", "datasets": "5.2.0",
    "bitsandbytes": "0.50.2", "accelerate": "1.15.0", "safetensors": "0.8.0", "pandas": "3.1.1",
    "scikit-learn": "1.9.1", "rouge-score": "0.1.2", "matplotlib": "3.11.2", "ipywidgets": "8.1.9",
    "ipykernel": "7.4.0", "papermill": "2.7.0", "nbformat": "5.11.1", "nbval": "0.11.0", "pytest": "9.2.0"}


def _lines(name: str) -> list[str]:
    """The requirement lines of ``name``, comments and blanks dropped."""
    lines = [line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines()]
    return [line for line in lines if line]


def _pins(name: str) -> dict[str, str]:
    """``{package: version}`` for the pinned lines of ``name`` (``-r`` includes left out)."""
    return dict(line.split("==") for line in _lines(name) if not line.startswith("-r"))


def test_requirements_are_pinned_and_leave_torch_out():
    colab, dev = _pins(LESSONS_FILE), _pins(DEV_FILE)
    assert _lines(DEV_FILE)[0] == f"-r {LESSONS_FILE}", "the dev file builds on the lessons' pins"
    assert [line for line in _lines(LESSONS_FILE) + _lines(DEV_FILE) if "==" not in line] == [f"-r {LESSONS_FILE}"]
    assert not set(colab) & set(dev), "a package is listed in both files"
    assert REQUIRED <= set(colab) | set(dev)
    assert all(re.fullmatch(r"\d+(\.\d+)+", v) for v in [*colab.values(), *dev.values()])
    assert "torch" not in colab and "torch" not in dev
    assert PINS_BEFORE_THE_SPLIT.items() <= {**colab, **dev}.items()


def test_colab_installs_no_kernel_or_test_packages():
    listed = [line.split(">=")[0] for line in _lines(COLAB_FILE)]
    assert listed == list(_pins(LESSONS_FILE)), "Colab's list names the lessons' libraries, in the same order"
    assert not [name for name in listed if name.startswith(NOT_ON_COLAB)]
    assert not [line for line in _lines(COLAB_FILE) if line.startswith("-")], "no includes in the Colab file"


def test_the_colab_ranges_end_at_the_pins_the_local_runs_use():
    pins = _pins(LESSONS_FILE)
    ranges = [Requirement(line) for line in _lines(COLAB_FILE)]
    for req in ranges:
        assert req.name in pins, f"{req.name} is in requirements-colab.txt but not pinned in requirements.txt"
        assert f"<={pins[req.name]}" in str(req.specifier), f"{req.name}'s range must end at its pin {pins[req.name]}"
    assert {r.name for r in ranges} == set(pins)


def test_workbook_installs_the_dev_file_and_reinstalls_when_either_file_changes(monkeypatch, tmp_path):
    wb = load_workbook()
    for name in wb.STAMP_INPUTS:
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    monkeypatch.setattr(wb, "ROOT", tmp_path)
    monkeypatch.setattr(wb, "VENV", tmp_path / ".venv")
    Path(wb.venv_python()).parent.mkdir(parents=True)
    Path(wb.venv_python()).touch()  # an existing venv: nothing is created
    calls = []
    monkeypatch.setattr(wb, "install_torch", lambda: None)
    monkeypatch.setattr(wb, "pip", lambda *args: calls.append(args) or 0)
    wb.ensure_env()
    assert calls[0] == ("-r", str(tmp_path / DEV_FILE))
    wb.ensure_env()
    assert len(calls) == 2, "an unchanged environment was installed again"
    for name in (LESSONS_FILE, DEV_FILE):
        with (tmp_path / name).open("a") as f:
            f.write("# changed\n")
        wb.ensure_env()
        assert calls[-2] == ("-r", str(tmp_path / DEV_FILE)), f"a change to {name} did not reinstall"
    assert len(calls) == 6


@pytest.mark.parametrize("gpu, expected", [(False, "torch==2.13.0+cpu"), (True, "torch==2.13.0")])
def test_torch_install_picks_the_build_for_the_machine(monkeypatch, gpu, expected):
    wb = load_workbook()
    calls = []
    monkeypatch.setattr(wb.subprocess, "call", lambda *a, **k: 1)  # "import torch" fails: not installed
    monkeypatch.setattr(wb, "has_nvidia_gpu", lambda: gpu)
    monkeypatch.setattr(wb, "pip", lambda *args: calls.append(args) or 0)
    wb.install_torch()
    assert calls == [(expected,)]


def test_torch_install_never_falls_back_to_cuda_wheels_on_cpu(monkeypatch):
    wb = load_workbook()
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
