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
    shown = []
    shell._showtraceback = lambda etype, value, stb: shown.append((etype, stb))  # what a kernel sends as "error"
    result = shell.run_cell("runtime.select_track('gpu', cuda=False)")
    assert isinstance(result.error_in_exec, WorkbookError) and len(shown) == 1
    etype, stb = shown[0]
    text = "".join(stb).strip()
    assert etype is WorkbookError and text.startswith("WorkbookError: TRACK='gpu' needs a CUDA GPU")
    assert "Traceback" not in text and len(text.splitlines()) == 1
    del shell._showtraceback


def test_a_workbook_error_fails_the_cell_for_nbval_and_papermill(tmp_path):
    """A kernel must send a WorkbookError as an error message: nbval looks only at those, so a sentence printed to
    stderr let a failed cell pass and the next one fail with a confusing KeyError."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from helpers import runtime\nruntime._short_errors()\nruntime.select_track('gpu', cuda=False)")])
    with pytest.raises(CellExecutionError, match="needs a CUDA GPU"):
        client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
        client.execute()
    error = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert len(error) == 1 and error[0].ename == "WorkbookError"
    assert len("".join(error[0].traceback).strip().splitlines()) == 1  # one sentence, no stack


def test_model_parameter_resolves_per_track(tmp_path):
    assert runtime.resolve_model("cpu", None) == runtime.TINY_MODEL
    assert runtime.resolve_model("gpu", None) == runtime.PHI2
    assert runtime.resolve_model("gpu", str(tmp_path)) == str(tmp_path)
    assert runtime.resolve_model("cpu", str(tmp_path)) == str(tmp_path)
    with pytest.raises(WorkbookError, match="never downloads"):
        runtime.resolve_model("cpu", "microsoft/phi-2")


def test_precision_can_be_forced_for_the_gpu_settings_on_cpu(monkeypatch):
    monkeypatch.setenv(runtime.PRECISION_ENV, "fp16")
    rt = runtime.detect("cpu")
    assert rt.precision == "fp16" and rt.dtype == torch.float16 and runtime.PRECISION_ENV in runtime.banner(rt)
    monkeypatch.setenv(runtime.PRECISION_ENV, "fp8")
    with pytest.raises(WorkbookError, match="fp16, bf16 or fp32"):
        runtime.detect("cpu")


def test_banner_says_when_it_emulates_a_t4(tmp_path):
    rt = runtime.Runtime("gpu", "test", "cuda", "fp16", False, gpu_name="NVIDIA H100", capability=(9, 0),
                         total_gib=14.74, free_gib=14.0, model=str(tmp_path), emulated_t4=True,
                         precision_note="emulating a T4, which has no bf16")
    text = runtime.banner(rt)
    assert "Emulating : a Colab T4" in text and "14.74 GiB" in text and "local folder" in text


def test_sdpa_keeps_fp16_attention_finite_where_eager_overflows(small_lm, tmp_path):
    """phi-2's known fp16 overflow: scores q.k above 65,504 are inf in an fp16 matmul (eager attention), while
    SDPA's kernels accumulate in fp32 and stay finite. This is why every loader asks for attn_implementation='sdpa'."""
    from helpers import models

    q = torch.full((1, 2, 4, 80), 40.0, dtype=torch.float16)  # q.k = 80 * 1600 = 128,000 > fp16's max
    k, v = q.clone(), torch.randn(1, 2, 4, 80, dtype=torch.float16)
    eager = torch.softmax(torch.matmul(q, k.transpose(2, 3)) * 80**-0.5, dim=-1, dtype=torch.float32)
    sdpa = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert not torch.isfinite(eager).all() and torch.isfinite(sdpa).all()
    model, tokenizer = small_lm
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, _ = models.load_pretrained(str(tmp_path), torch.float16, device="cpu")
    assert loaded.config._attn_implementation == "sdpa" and loaded.dtype == torch.float16
