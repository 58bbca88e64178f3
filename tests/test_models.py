"""The cached tiny Phi (build, cache, reuse) and the GPU track's phi-2 on the meta device."""

from __future__ import annotations

import pytest
import torch

from helpers import measure, models, pretrain, runtime
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
    other = models.tiny_model_dir(pretrain.TinySettings(**{**SMALL.__dict__, "steps": SMALL.steps + 1}))
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
    held_out = pack_blocks(pretrain.general_corpus()["validation"], tokenizer, models.TINY.block_size)
    assert perplexity(model, held_out) == pytest.approx(report["held_out_ppl_after"], rel=1e-3)


def test_cpu_base_model_was_not_trained_on_the_clinical_notes():
    """A general-domain base, as phi-2 is: held-out clinical notes are far less predictable to it than held-out
    general text, and clinical shorthand costs it more tokens per word than plain English."""
    from helpers.lm import pack_blocks, perplexity

    model, tokenizer = models.load_tiny_lm(verbose=False)
    general = perplexity(model, pack_blocks(pretrain.general_corpus()["validation"], tokenizer, 256)[:16])
    clinical = perplexity(model, pack_blocks(pretrain.lm_corpus()["validation"], tokenizer, 256)[:16])
    assert clinical >= 1.5 * general, (clinical, general)
    for abbreviation in (" HTN", " SOB", " CABG"):
        assert len(tokenizer.tokenize(abbreviation)) >= 2, abbreviation  # never seen: split into pieces


SHIPPED_BEFORE_COPYING_PPL = 5.3796  # held-out general perplexity of the base shipped before it learned to copy


def test_cpu_base_model_copies_from_its_context_and_stays_a_general_model():
    """The card, notebooks 01 and 03 say the tiny base has induction heads: a list of random words read a second time
    costs it at most 0.3 of the first reading, and a span of a held-out clinical note (text it never saw) at most 0.5;
    copying did not cost it its general text (held-out perplexity within 10% of the base before it copied)."""
    from helpers import lm
    from helpers.lm import pack_blocks, perplexity

    model, tokenizer = models.load_tiny_lm(verbose=False)
    words = lm.copy_probe(model, tokenizer)
    notes = lm.note_copy_probe(model, tokenizer, pretrain.lm_corpus()["validation"][:16])
    assert lm.copies(words, at_most=0.3), words
    assert lm.copies(notes, at_most=0.5), notes
    held_out = pack_blocks(pretrain.general_corpus()["validation"], tokenizer, models.TINY.block_size)
    assert perplexity(model, held_out) <= 1.1 * SHIPPED_BEFORE_COPYING_PPL


def test_the_copy_curriculum_passes_its_phase_change_in_a_short_run(tmp_path):
    """The build's stage 1 on a small model: fresh rows of random ids, so only copying beats log(pool). The loss sits
    on that plateau, then falls below it (the phase change). A recipe change that loses it fails here."""
    import math

    small = pretrain.TinySettings(n_notes=120, n_general=400, vocab_size=400, hidden_size=64, num_layers=2,
                                  num_heads=2, intermediate_size=128, max_positions=256, block_size=64, steps=0,
                                  copy_steps=700, widen_from=700, copy_rows=32, copy_length=32, recall_steps=0)
    report = models._read_report(pretrain.build_tiny_lm(small, tmp_path / "m", progress=False))
    losses, plateau = report["train_losses"], math.log(small.copy_pool)
    assert sum(losses[150:250]) / 100 > 0.95 * plateau  # on the plateau first: nothing to copy yet
    assert sum(losses[-50:]) / 50 < 0.9 * plateau, losses[-50:]  # then past it


def test_an_interrupted_build_resumes_to_the_same_model(tmp_path):
    """Stopping a build in its last stage and running it again continues from the checkpoint: same weights, same
    report (stage 3's fresh moments and streams are not reset a second time)."""
    small = pretrain.TinySettings(n_notes=120, n_general=400, vocab_size=400, hidden_size=32, num_layers=2,
                                  num_heads=2, intermediate_size=64, max_positions=256, block_size=64, steps=10,
                                  batch_size=4, copy_steps=60, widen_from=20, widen_every=10, copy_rows=8,
                                  recall_steps=10, recall_rows=3, recall_length=128)
    whole = pretrain.build_tiny_lm(small, tmp_path / "whole", progress=False)
    assert pretrain.build_tiny_lm(small, tmp_path / "resumed", progress=False, stop_at=75) is None  # in stage 3
    assert list(tmp_path.glob(".resumed.checkpoint-*.pt")) and not (tmp_path / "resumed").exists()
    resumed = pretrain.build_tiny_lm(small, tmp_path / "resumed", progress=False)
    assert not list(tmp_path.glob(".resumed.checkpoint-*.pt"))  # a finished build removes its checkpoint
    a, b = (models._read_report(p) for p in (whole, resumed))
    assert a["train_losses"] == b["train_losses"] and a["probes"] == b["probes"]
    from safetensors.torch import load_file

    wa, wb = load_file(whole / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
