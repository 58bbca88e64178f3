"""Adapter save/reload identity, merging, the model card; answers and the comparer; peak memory."""

from __future__ import annotations

import copy
import sys
import time

import pytest
import torch
from conftest import SMALL

from helpers import adapters, answers, measure, models, sft, widgets
from helpers.runtime import WorkbookError


def _lora():
    from peft import LoraConfig

    return LoraConfig(r=4, lora_alpha=8, target_modules=list(models.PHI2_TARGET_MODULES), task_type="CAUSAL_LM")


@pytest.fixture
def lora_model(small_lm):
    """The small model with a LoRA adapter whose B matrices are non-zero (so it changes the outputs)."""
    from peft import get_peft_model

    torch.manual_seed(0)
    model = get_peft_model(copy.deepcopy(small_lm[0]), _lora())
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.5)
    return model.eval()


def test_saved_adapter_reloads_onto_a_fresh_base_with_identical_outputs(small_lm, lora_model, tmp_path):
    base, tok = small_lm
    card = adapters.model_card("t", "03", "tiny", "synthetic", "LoRA", {"r": 4}, {"rouge_l": 0.5})
    files = adapters.save_adapter(lora_model, tmp_path, card)
    assert {"adapter_model.safetensors", "adapter_config.json", "README.md"} <= set(files)
    assert "Not for clinical use" in (tmp_path / "README.md").read_text()
    assert adapters.adapter_config(tmp_path)["r"] == 4
    reloaded = adapters.reload_adapter(copy.deepcopy(base), tmp_path)
    prompts = [sft.prompt_of("Pt with CP and SOB.", "Why was the pt admitted?"), sft.prompt_of("HTN.", "Meds?")]
    assert answers.answer(reloaded, tok, prompts, 12) == answers.answer(lora_model, tok, prompts, 12)
    ids = tok(prompts[0], return_tensors="pt")["input_ids"]
    assert adapters.max_logit_gap(reloaded, lora_model, ids) == 0.0
    with answers.adapter_off(reloaded):
        assert adapters.max_logit_gap(reloaded, base, ids) == 0.0  # adapter off = the base model
    assert adapters.max_logit_gap(reloaded, base, ids) > 1e-3  # the adapter does change the outputs


def test_merged_model_matches_the_adapter_model(small_lm, lora_model):
    _, tok = small_lm
    ids = tok(sft.prompt_of("Pt with CP.", "Why?"), return_tensors="pt")["input_ids"]
    before = lora_model(input_ids=ids).logits
    merged = adapters.merge(copy.deepcopy(lora_model))
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert torch.allclose(merged(input_ids=ids).logits, before, atol=1e-4)


def test_reload_without_an_adapter_says_what_to_run(small_lm, tmp_path):
    with pytest.raises(WorkbookError, match="run the training"):
        adapters.reload_adapter(small_lm[0], tmp_path)


HF_SECRET = "hf_testSECRETtoken1234567890"


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A saved-adapter folder, no HF token anywhere, and fake create_repo/upload_folder that record their calls."""
    import huggingface_hub

    (tmp_path / "adapter_config.json").write_text("{}")
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)  # no token saved by `hf auth login`
    calls = []
    monkeypatch.setattr(huggingface_hub, "create_repo", lambda repo_id, **kw: calls.append(("create", repo_id, kw)))
    monkeypatch.setattr(huggingface_hub, "upload_folder", lambda **kw: calls.append(("upload", kw)))
    return tmp_path, calls


def test_push_adapter_without_a_token_says_how_to_set_hf_token(hub, capsys):
    path, calls = hub
    with pytest.raises(WorkbookError) as err:
        adapters.push_adapter(path, "me/adapter")
    message = str(err.value)
    assert "no HF_TOKEN was found" in message and "set the environment variable HF_TOKEN" in message
    assert "PUSH_TO_HUB=False" in message and "judge" not in message.lower() and "\n" not in message
    assert calls == [] and capsys.readouterr().out == ""
    with pytest.raises(WorkbookError, match="run the training and saving cells"):
        adapters.push_adapter(path / "missing", "me/adapter", HF_SECRET)


def test_push_adapter_reads_hf_token_itself_and_never_shows_it(hub, monkeypatch, capsys):
    path, calls = hub
    monkeypatch.setenv("HF_TOKEN", HF_SECRET)
    assert adapters.push_adapter(path, "me/adapter") == "https://huggingface.co/me/adapter"
    assert calls[0] == ("create", "me/adapter", {"private": True, "exist_ok": True, "token": HF_SECRET})
    assert calls[1][1]["token"] == HF_SECRET and calls[1][1]["folder_path"] == str(path)
    assert HF_SECRET not in capsys.readouterr().out


def _hub_http_error(cls, code: int, message: str):
    """A real huggingface_hub HTTP error with status ``code``."""
    import httpx2

    request = httpx2.Request("POST", "https://huggingface.co/api/repos/create")
    return cls(message, response=httpx2.Response(code, request=request))


def _push_failures():
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, RepositoryNotFoundError

    return [
        (_hub_http_error(HfHubHTTPError, 401, f"401 Client Error: Invalid credentials {HF_SECRET}"), "HTTP 401"),
        (_hub_http_error(HfHubHTTPError, 403, "403 Forbidden: You don't have the rights"), "HTTP 403"),
        (_hub_http_error(RepositoryNotFoundError, 401, "Repository Not Found"), "HTTP 401"),
        (httpx2.ConnectError("[Errno -2] Name or service not known"), "Could not reach the Hugging Face Hub"),
        (HFValidationError("Repo id must use alphanumeric chars"), "not a valid repository id"),
        (RuntimeError(f"something odd with {HF_SECRET}\nsecond line"), "RuntimeError: something odd with ***"),
    ]


def _raises(error: Exception):
    """A fake Hub function that raises ``error``."""
    def fail(*args, **kwargs):
        raise error

    return fail


def test_push_failures_are_one_sentence_without_the_token(hub, monkeypatch):
    import huggingface_hub

    path, _ = hub
    for error, expected in _push_failures():
        monkeypatch.setattr(huggingface_hub, "create_repo", _raises(error))
        with pytest.raises(WorkbookError) as err:
            adapters.push_adapter(path, "me/adapter", HF_SECRET)
        message = str(err.value)
        assert expected in message and HF_SECRET not in message and "\n" not in message, message
        assert err.value.__cause__ is None and err.value.__suppress_context__


def test_batched_greedy_answers_equal_one_at_a_time(small_lm):
    model, tok = small_lm
    prompts = [sft.prompt_of("Pt with CP.", "Why?"), sft.prompt_of("Pt with SOB, HTN and DM2 on insulin.", "Meds?")]
    batched = answers.answer(model, tok, prompts, max_new_tokens=10, batch_size=2)
    assert batched == [answers.answer(model, tok, [p], max_new_tokens=10)[0] for p in prompts]
    assert tok.padding_side == "right"  # restored after left-padded generation


def test_answers_come_back_in_the_order_of_the_prompts(small_lm):
    """answer() batches prompts of similar length together; each answer must still sit at its prompt's place."""
    model, tok = small_lm
    prompts = [sft.prompt_of("Pt with SOB, HTN and DM2 on insulin, CKD, CHF, and a hx of CVA.", "Meds?"),
               sft.prompt_of("Pt with CP.", "Why?"), sft.prompt_of("Pt with SOB and HTN.", "Dx?")]
    singles = [answers.answer(model, tok, [p], max_new_tokens=8)[0] for p in prompts]
    assert answers.answer(model, tok, prompts, max_new_tokens=8, batch_size=2) == singles
    assert answers.answer(model, tok, prompts, max_new_tokens=8) == singles


def test_cut_at_stop():
    assert answers.cut_at_stop(" CP.\nQuestion: more") == "CP."
    assert answers.cut_at_stop(" no stop here ") == "no stop here"


def test_comparer_skips_with_one_line_when_headless(small_lm, qa_table, capsys, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    widgets.comparer(small_lm[0], small_lm[1], qa_table)
    assert capsys.readouterr().out.count("\n") == 1


def test_peak_memory_sees_a_large_allocation():
    with measure.peak_memory("cpu") as mem:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched so that it is resident
        block += 1
        time.sleep(0.1)  # give the sampler a moment
    assert mem["kind"] == "process peak RSS"
    assert mem["peak"] - mem["baseline"] >= 48 * 2**20
    assert mem["used"] == mem["peak"] - mem["baseline"]  # on CPU, what the block added
    del block


def test_merge_refuses_a_quantized_base(small_lm, small_cache, monkeypatch):
    from peft import get_peft_model

    monkeypatch.setenv(models.CACHE_ENV, str(small_cache))
    quantized, _ = models.load_tiny_lm(SMALL, verbose=False, quantization="nf4")
    with pytest.raises(WorkbookError, match="4-bit"):
        adapters.merge(get_peft_model(quantized, _lora()))
