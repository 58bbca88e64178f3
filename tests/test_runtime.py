"""Track selection, the precision rule, the banner, and one-sentence errors."""

from __future__ import annotations

import pytest
import torch

from helpers import runtime
from helpers.runtime import WorkbookError, precision_for, select_track


@pytest.mark.parametrize("capability, expected", [((7, 5), "fp16"), ((7, 0), "fp16"), ((8, 0), "bf16"),
                                                  ((9, 0), "bf16"), (None, "fp32")])
def test_precision_rule(capability, expected):
    assert precision_for(capability) == expected


def test_auto_picks_gpu_only_with_cuda_and_hub():
    assert select_track("auto", cuda=True, hub=True)[0] == "gpu"
    assert select_track("auto", cuda=True, hub=False)[0] == "cpu"
    assert select_track("auto", cuda=False)[0] == "cpu"
    assert select_track("AUTO", cuda=False)[0] == "cpu"


def test_explicit_tracks():
    assert select_track("cpu", cuda=True, hub=True)[0] == "cpu"
    assert select_track("gpu", cuda=True, hub=False)[0] == "gpu"


def test_gpu_without_cuda_is_one_clear_sentence():
    with pytest.raises(WorkbookError) as err:
        select_track("gpu", cuda=False)
    message = str(err.value)
    assert "CUDA GPU" in message and "TRACK='cpu'" in message
    assert "\n" not in message and message.count(". ") == 0


def test_unknown_track_names_the_choices():
    with pytest.raises(WorkbookError, match="auto, cpu, gpu"):
        select_track("tpu", cuda=False)


def test_detect_on_this_machine_is_cpu_fp32():
    rt = runtime.detect("cpu")
    assert (rt.track, rt.device, rt.precision, rt.dtype) == ("cpu", "cpu", "fp32", torch.float32)
    assert rt.total_gib > rt.free_gib > 0


def test_hub_check_respects_offline_mode(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert runtime.hub_reachable() is False


def test_preflight_prints_banner_and_seeds(capsys):
    rt = runtime.preflight("cpu", seed=3)
    first = torch.rand(1)
    out = capsys.readouterr().out
    assert "Track     : CPU" in out and "fp32" in out and "TRACK='cpu' was requested" in out
    runtime.seed_everything(3)
    assert torch.equal(first, torch.rand(1)) and rt.track == "cpu"


def test_workbook_error_shows_one_line_in_ipython(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_cell("from helpers import runtime; runtime._short_errors()")
    result = shell.run_cell("runtime.select_track('gpu', cuda=False)")
    err = capsys.readouterr().err
    assert isinstance(result.error_in_exec, WorkbookError)
    assert err.strip().startswith("WorkbookError: TRACK='gpu' needs a CUDA GPU")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
