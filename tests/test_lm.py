"""The training loop, perplexity, next-token probabilities and generation, on a small tiny-Phi."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from helpers import lm
from helpers.runtime import WorkbookError


def test_pack_blocks_joins_documents_with_eos(small_lm):
    _, tok = small_lm
    blocks = lm.pack_blocks(["Pt admitted with CP.", "HTN, DM2."] * 20, tok, block_size=16)
    assert blocks.shape[1] == 16 and blocks.dtype == torch.long
    assert (blocks == tok.eos_token_id).sum() >= 10
    with pytest.raises(ValueError, match="fewer than one block"):
        lm.pack_blocks(["short"], tok, block_size=1000)


def test_uniform_model_has_perplexity_equal_to_vocabulary(small_lm):
    model, tok = small_lm
    uniform = copy.deepcopy(model)
    torch.nn.init.zeros_(uniform.lm_head.weight)
    torch.nn.init.zeros_(uniform.lm_head.bias)
    blocks = lm.pack_blocks(["Pt admitted with SOB and CP."] * 30, tok, block_size=32)
    assert lm.perplexity(uniform, blocks) == pytest.approx(uniform.config.vocab_size, rel=1e-4)


def test_perplexity_is_exp_of_mean_loss(small_lm):
    model, tok = small_lm
    blocks = lm.pack_blocks(["Pt admitted with SOB and CP."] * 30, tok, block_size=32)
    with torch.no_grad():
        loss = model(input_ids=blocks, labels=blocks).loss.item()
    assert lm.perplexity(model, blocks, batch_size=len(blocks)) == pytest.approx(math.exp(loss), rel=1e-4)


def test_train_lm_lowers_the_loss_and_repeats(small_lm):
    model, tok = small_lm
    blocks = lm.pack_blocks(["The patient was admitted with chest pain."] * 40, tok, block_size=32)
    runs = []
    for _ in range(2):
        fresh = copy.deepcopy(model)
        torch.manual_seed(0)
        for p in fresh.parameters():
            torch.nn.init.normal_(p, std=0.02)
        runs.append(lm.train_lm(fresh, blocks, steps=60, batch_size=4, lr=1e-2, log_every=0))
    assert runs[0] == pytest.approx(runs[1])
    assert sum(runs[0][-5:]) / 5 < 0.5 * sum(runs[0][:5]) / 5
    assert not fresh.training


def test_warmup_cosine_schedule():
    assert lm.warmup_cosine(0, 100, 10) == pytest.approx(0.1)
    assert lm.warmup_cosine(9, 100, 10) == pytest.approx(1.0)
    assert lm.warmup_cosine(100, 100, 10) == pytest.approx(0.1)


def test_next_token_table_matches_softmax(small_lm):
    model, tok = small_lm
    table = lm.next_token_table(model, tok, "Pt admitted with", k=5)
    ids = tok("Pt admitted with", return_tensors="pt").input_ids
    with torch.no_grad():
        probs = torch.softmax(model(input_ids=ids).logits[0, -1], -1)
    assert table["probability"].is_monotonic_decreasing and len(table) == 5
    assert table["probability"].iloc[0] == pytest.approx(probs.max().item(), rel=1e-5)
    assert table["token_id"].iloc[0] == int(probs.argmax())


def test_greedy_generation_is_deterministic(small_lm):
    model, tok = small_lm
    first = lm.generate(model, tok, "Chief Complaint:", max_new_tokens=8, do_sample=False)
    assert first == lm.generate(model, tok, "Chief Complaint:", max_new_tokens=8, do_sample=False)
    sampled = [lm.generate(model, tok, "Chief Complaint:", max_new_tokens=8, do_sample=True, seed=s) for s in (1, 1)]
    assert sampled[0] == sampled[1]


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=0), "MAX_STEPS=0"), (dict(batch_size=0), "BATCH_SIZE=0"), (dict(lr=5.0), "LEARNING_RATE=5.0"),
])
def test_bad_training_settings_are_one_sentence(small_lm, kwargs, message):
    model, tok = small_lm
    blocks = lm.pack_blocks(["Pt admitted with SOB and CP."] * 30, tok, block_size=16)
    with pytest.raises(WorkbookError, match=message):
        lm.train_lm(model, blocks, **{"steps": 5, **kwargs})


def test_blocks_longer_than_the_model_are_one_sentence(small_lm):
    model, tok = small_lm
    too_long = model.config.max_position_embeddings + 1
    blocks = lm.pack_blocks(["Pt admitted with SOB and CP."] * 400, tok, block_size=too_long)
    with pytest.raises(WorkbookError, match=f"BLOCK_SIZE={too_long} is longer"):
        lm.train_lm(model, blocks, steps=1)
    with pytest.raises(WorkbookError, match="at least 2 tokens"):
        lm.pack_blocks(["Pt admitted."], tok, block_size=1)


def test_empty_prompt_is_one_sentence(small_lm):
    model, tok = small_lm
    with pytest.raises(WorkbookError, match="PROMPT is empty"):
        lm.next_token_table(model, tok, "")
    with pytest.raises(WorkbookError, match="PROMPT is empty"):
        lm.generate(model, tok, "")


def test_lora_on_an_fp16_body_trains_with_autocast_and_a_scaler(small_lm, tmp_path):
    """Notebook 05's stage 1 on a T4: fp16 base, fp32 LoRA, activation checkpointing; loss falls and stays finite."""
    from peft import LoraConfig, get_peft_model
    from transformers import PhiForCausalLM

    from helpers.pretrain import lm_corpus
    from tests.conftest import SMALL

    model, tokenizer = small_lm
    model.save_pretrained(tmp_path)
    half = PhiForCausalLM.from_pretrained(tmp_path, dtype=torch.float16)
    lora = get_peft_model(half, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    lora.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    assert {p.dtype for p in lora.parameters() if p.requires_grad} == {torch.float32}
    blocks = lm.pack_blocks(lm_corpus(SMALL)["train"], tokenizer, 64)
    fixed = blocks[:8]  # the same blocks before and after: single batches are too noisy to compare
    before = lm.perplexity(lora, fixed)
    losses = lm.train_lm(lora, blocks, steps=12, batch_size=4, lr=1e-2, warmup=2, log_every=0)
    assert all(math.isfinite(x) for x in losses) and lm.perplexity(lora, fixed) < before


class _Induction(torch.nn.Module):
    """An induction head written out by hand: after token x, predict what followed x's last earlier occurrence."""

    def __init__(self, vocab_size: int, copy: bool):
        super().__init__()
        self.vocab_size, self.copy = vocab_size, copy
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.device = self.weight.device

    def forward(self, input_ids):
        from types import SimpleNamespace

        ids = input_ids[0].tolist()
        logits = torch.zeros(1, len(ids), self.vocab_size)
        for t, x in enumerate(ids):
            earlier = [j for j in range(t) if ids[j] == x]
            if self.copy and earlier:
                logits[0, t, ids[earlier[-1] + 1]] = 30.0
        return SimpleNamespace(logits=logits)


def test_copy_probe_tells_a_copying_model_from_one_that_cannot_copy():
    from transformers import AutoTokenizer

    from helpers.models import SHIPPED_DIR

    tok = AutoTokenizer.from_pretrained(SHIPPED_DIR)
    vocab = len(tok)
    copier = lm.copy_probe(_Induction(vocab, copy=True), tok, n_lists=3, n_words=10)
    blind = lm.copy_probe(_Induction(vocab, copy=False), tok, n_lists=3, n_words=10)
    assert blind["first reading"] == pytest.approx(math.log(vocab)) == pytest.approx(blind["second reading"])
    assert copier["second reading"] < 1e-6 and copier["first reading"] > 0.5 * math.log(vocab)
    assert lm.copies(copier) and not lm.copies(blind)


def test_note_copy_probe_prices_the_repeat_of_a_span_read_in_the_note():
    from transformers import AutoTokenizer

    from helpers.general import COMMON_WORDS
    from helpers.models import SHIPPED_DIR

    tok = AutoTokenizer.from_pretrained(SHIPPED_DIR)
    vocab = len(tok)
    words = [w for w in COMMON_WORDS if len(tok.tokenize(" " + w)) == 1]  # one token each: no token repeats
    notes = [" ".join(words[i * 30 : (i + 1) * 30]) for i in range(3)]
    copier = lm.note_copy_probe(_Induction(vocab, copy=True), tok, notes, span_tokens=8, window=30)
    blind = lm.note_copy_probe(_Induction(vocab, copy=False), tok, notes, span_tokens=8, window=30)
    assert blind["first reading"] == pytest.approx(math.log(vocab)) == pytest.approx(blind["second reading"])
    assert copier["second reading"] < 1e-6 and copier["first reading"] == pytest.approx(math.log(vocab))
    assert lm.copy_ratio(copier) < 1e-6 and lm.copies(copier, at_most=0.3) and not lm.copies(blind)
    with pytest.raises(ValueError, match="no note has"):
        lm.note_copy_probe(_Induction(vocab, copy=True), tok, ["too short"], span_tokens=8)


def test_continuation_stats_count_known_tokens_and_the_most_frequent_one():
    class Words:  # one token per word, ids by a fixed table
        table = {"a": 1, "b": 2, "c": 3}

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [self.table[w] for w in text.split()]}

        def decode(self, ids):
            return " ".join(k for i in ids for k, v in self.table.items() if v == i)

    stats = lm.continuation_stats(Words(), "a a a b c", known_ids={1, 2})
    assert stats == {"tokens": 5, "in_notes": 0.8, "top_token": "a", "top_share": 0.6}
    assert lm.continuation_stats(Words(), "", known_ids={1})["tokens"] == 0
