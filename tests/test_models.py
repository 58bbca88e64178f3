"""The cached tiny Phi (build, cache, reuse) and the GPU track's phi-2 on the meta device."""

from __future__ import annotations

import pytest
import torch

from helpers import measure, models, runtime
from helpers.runtime import WorkbookError
from tests.conftest import SMALL


def test_tiny_model_has_phi2_module_names(small_lm):
    model, _ = small_lm
    leaf_names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    assert set(models.PHI2_TARGET_MODULES) <= leaf_names
    assert type(model).__name__ == "PhiForCausalLM"


def test_tiny_build_is_cached_and_reused(small_lm, small_cache, monkeypatch):
    monkeypatch.setenv(models.CACHE_ENV, str(small_cache))
    path = models.tiny_model_dir(SMALL)
    stamp = (path / "model.safetensors").stat().st_mtime
    models.load_tiny_lm(SMALL, verbose=False)
    assert (path / "model.safetensors").stat().st_mtime == stamp
    other = models.tiny_model_dir(models.TinySettings(**{**SMALL.__dict__, "steps": SMALL.steps + 1}))
    assert other != path


def test_pretraining_lowers_held_out_perplexity(small_lm, small_cache, monkeypatch):
    monkeypatch.setenv(models.CACHE_ENV, str(small_cache))
    report = models.tiny_build_report(SMALL)
    assert report["held_out_ppl_after"] < 0.5 * report["held_out_ppl_before"]
    assert report["parameters"] == sum(p.numel() for p in small_lm[0].parameters())


def test_tokenizer_round_trips_clinical_text(small_lm):
    _, tok = small_lm
    text = "Pt w/ hx of HTN, DM2 and CAD s/p CABG; c/o SOB x3d. SpO2 88% on RA."
    assert tok.decode(tok(text)["input_ids"]) == text
    assert tok.eos_token == models.EOS and tok.pad_token == tok.eos_token


def test_phi2_on_meta_matches_config_without_download():
    config = models.phi2_config()
    model = models.phi2_on_meta()
    h, f, v, n = config.hidden_size, config.intermediate_size, config.vocab_size, config.num_hidden_layers
    per_layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 2 * h  # q,k,v,dense + fc1 + fc2 + layernorm
    expected = v * h + n * per_layer + 2 * h + (h * v + v)  # embeddings, layers, final norm, lm_head
    assert sum(p.numel() for p in model.parameters()) == expected
    assert next(model.parameters()).device == torch.device("meta")
    for module in models.PHI2_TARGET_MODULES:
        assert sum(name.endswith(f".{module}") for name, _ in model.named_modules()) == n


def test_nf4_config_is_4bit_nf4_with_double_quant():
    cfg = models.nf4_config(torch.float16)
    assert cfg.load_in_4bit and cfg.bnb_4bit_quant_type == "nf4" and cfg.bnb_4bit_use_double_quant
    assert cfg.bnb_4bit_compute_dtype == torch.float16


def test_phi2_loader_without_gpu_is_one_sentence():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(WorkbookError, match="needs a CUDA GPU"):
        models.load_pretrained(runtime.PHI2)
    with pytest.raises(WorkbookError, match="'none' or 'nf4'"):
        models.load_pretrained(runtime.PHI2, quantization="int3")


def test_double_quant_false_changes_the_nf4_bytes_by_the_expected_constant(small_lm, tmp_path):
    """DOUBLE_QUANT reaches bitsandbytes (it was ignored): without it each block of 64 weights keeps a 4-byte fp32
    absmax instead of a 1-byte code, and the nested constants disappear, exactly as memory.nf4_bytes says."""
    from helpers import memory

    model, tokenizer = small_lm
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with_dq, _ = models.load_pretrained(str(tmp_path), torch.float32, "nf4", double_quant=True, device="cpu")
    without, _ = models.load_pretrained(str(tmp_path), torch.float32, "nf4", double_quant=False, device="cpu")
    sizes = [m.in_features * m.out_features for m in model.modules()
             if isinstance(m, torch.nn.Linear) and m is not model.lm_head]
    expected = sum(memory.nf4_bytes(n, False) - memory.nf4_bytes(n, True) for n in sizes)
    assert expected != 0  # on these small layers the nested 256-level code costs more than it saves; on phi-2 it saves
    assert measure.measured_bytes(without) - measure.measured_bytes(with_dq) == expected


def test_shipped_tiny_model_loads_and_scores_its_recorded_perplexity():
    """The committed weights are TINY's, load offline, and score what their build report recorded."""
    from helpers.lm import pack_blocks, perplexity

    assert models.tiny_model_dir() == models.SHIPPED_DIR, "the shipped weights no longer match TINY: rebuild them"
    size = (models.SHIPPED_DIR / "model.safetensors").stat().st_size
    assert size <= 25 * 2**20, f"shipped weights are {size / 2**20:.1f} MiB, over the 25 MiB limit"
    report = models.tiny_build_report()
    model, tokenizer = models.load_tiny_lm(verbose=False)
    held_out = pack_blocks(models.general_corpus()["validation"], tokenizer, models.TINY.block_size)
    assert perplexity(model, held_out) == pytest.approx(report["held_out_ppl_after"], rel=1e-3)


def test_cpu_base_model_was_not_trained_on_the_clinical_notes():
    """A general-domain base, as phi-2 is: held-out clinical notes are far less predictable to it than held-out
    general text, and clinical shorthand costs it more tokens per word than plain English."""
    from helpers.lm import pack_blocks, perplexity

    model, tokenizer = models.load_tiny_lm(verbose=False)
    general = perplexity(model, pack_blocks(models.general_corpus()["validation"], tokenizer, 256)[:16])
    clinical = perplexity(model, pack_blocks(models.lm_corpus()["validation"], tokenizer, 256)[:16])
    assert clinical >= 1.5 * general, (clinical, general)
    for abbreviation in (" HTN", " SOB", " CABG"):
        assert len(tokenizer.tokenize(abbreviation)) >= 2, abbreviation  # never seen: split into pieces


def test_cpu_base_model_does_not_copy_from_its_context_as_its_card_says():
    """The card and notebook 03 say the tiny base has no induction heads (why its extraction facts stay low): a list
    of words read a second time costs it about as much as the first reading. A rebuild that copies must update both."""
    from helpers import lm

    model, tokenizer = models.load_tiny_lm(verbose=False)
    probe = lm.copy_probe(model, tokenizer)
    assert not lm.copies(probe) and probe["second reading"] > 0.9 * probe["first reading"], probe
