"""Language-model basics: packing text into blocks, the training loop, perplexity, next-token
probabilities and generation (introduced in notebook 01).

``train_lm`` is the loop notebook 01 shows and runs; ``helpers.pretrain`` builds the tiny base with the same
pieces (``pack_blocks``, ``warmup_cosine``) and judges it with ``copy_probe``, ``note_copy_probe`` and ``perplexity``.
"""

from __future__ import annotations

import math
import random

import pandas as pd
import torch

from .gpu import autocast
from .runtime import WorkbookError


def _check_settings(model, blocks: torch.Tensor, steps: int, batch_size: int, lr: float) -> None:
    """One clear sentence for settings a learner can get wrong in the parameters cell."""
    limit = model.config.max_position_embeddings
    if blocks.shape[1] > limit:
        raise WorkbookError(f"BLOCK_SIZE={blocks.shape[1]} is longer than the model's {limit} positions: "
                            f"set BLOCK_SIZE to {limit} or less.")
    if steps < 1 or batch_size < 1:
        raise WorkbookError(f"MAX_STEPS={steps} and BATCH_SIZE={batch_size} must both be at least 1.")
    if not 0 < lr < 1:
        raise WorkbookError(f"LEARNING_RATE={lr} is outside (0, 1): values around 1e-4 to 3e-3 are typical.")


def _prompt_ids(tokenizer, prompt: str, device) -> torch.Tensor:
    """Token ids of ``prompt`` as a batch of one, or one sentence if the prompt is empty."""
    ids = tokenizer(prompt, return_tensors="pt").input_ids.to(device)
    if ids.shape[1] == 0:
        raise WorkbookError("PROMPT is empty: type at least a word for the model to continue.")
    return ids


def pack_blocks(texts: list[str], tokenizer, block_size: int) -> torch.Tensor:
    """Tokenize ``texts``, join them with EOS and cut the stream into rows of ``block_size`` tokens."""
    if block_size < 2:
        raise WorkbookError(f"BLOCK_SIZE={block_size} must be at least 2 tokens (one to read, one to predict).")
    stream: list[int] = []
    for ids in tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]:  # long texts: no warning
        stream.extend(ids + [tokenizer.eos_token_id])
    n_blocks = len(stream) // block_size
    if n_blocks == 0:
        raise ValueError(f"{len(stream)} tokens are fewer than one block of {block_size}: use more text.")
    return torch.tensor(stream[: n_blocks * block_size]).view(n_blocks, block_size)


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """Learning-rate multiplier: linear warm-up, then cosine decay to 10%."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def train_lm(model, blocks: torch.Tensor, steps: int, batch_size: int = 16, lr: float = 3e-3,
             warmup: int = 10, seed: int = 0, log_every: int = 20) -> list[float]:
    """Train ``model`` on next-token prediction over random batches of ``blocks``; return the losses.

    A half-precision (fp16) body trains with autocast and a GradScaler; an fp32 model runs plain fp32.
    """
    from .gpu import grad_scaler, require_finite

    _check_settings(model, blocks, steps, batch_size, lr)
    rng = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, steps, warmup))
    scaler = grad_scaler(model)
    model.train()
    losses = []
    for step in range(steps):
        rows = torch.randint(len(blocks), (batch_size,), generator=rng)
        batch = blocks[rows].to(model.device)
        with autocast(model):
            loss = model(input_ids=batch, labels=batch).loss  # the model shifts labels by one token inside
        require_finite(loss, f"training loss at step {step + 1}")
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1:4d}/{steps}  loss {loss.item():.3f}  perplexity {math.exp(loss.item()):8.2f}")
    model.eval()
    return losses


@torch.no_grad()
def perplexity(model, blocks: torch.Tensor, batch_size: int = 16) -> float:
    """exp(mean next-token cross-entropy) over every predicted token in ``blocks``."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(blocks), batch_size):
        batch = blocks[start : start + batch_size].to(model.device)
        n_predicted = batch[:, 1:].numel()
        with autocast(model):
            total += model(input_ids=batch, labels=batch).loss.item() * n_predicted
        count += n_predicted
    return math.exp(total / count)


@torch.no_grad()
def copy_probe(model, tokenizer, n_lists: int = 16, n_words: int = 24, seed: int = 0) -> dict[str, float]:
    """How well ``model`` copies from its context (introduced in notebook 03).

    Each of ``n_lists`` lists of ``n_words`` random everyday words is read twice in a row. Returned: the mean
    next-token loss in nats over the first reading and over the second (each without its first token, which
    nothing predicts). Only looking back at the first reading predicts the second, which is what a transformer's
    "induction heads" do; a model that cannot copy pays about as much for the repeat as for the first reading.
    """
    from .general import COMMON_WORDS

    rng = random.Random(seed)
    first, second = [], []
    model.eval()
    for _ in range(n_lists):
        ids = tokenizer(" " + " ".join(rng.sample(COMMON_WORDS, n_words)), add_special_tokens=False).input_ids
        n = len(ids)
        seq = torch.tensor([[tokenizer.eos_token_id, *ids, *ids]], device=model.device)
        with autocast(model):
            logits = model(input_ids=seq).logits.float()
        nll = torch.nn.functional.cross_entropy(logits[0, :-1], seq[0, 1:], reduction="none")  # nll[i]: token i+1
        first.append(nll[1:n])
        second.append(nll[n + 1 : 2 * n])
    return {"first reading": torch.cat(first).mean().item(), "second reading": torch.cat(second).mean().item()}


@torch.no_grad()
def note_copy_probe(model, tokenizer, notes: list[str], span_tokens: int = 16, window: int = 96,
                    seed: int = 0) -> dict[str, float]:
    """How well ``model`` copies a span of a clinical note it has just read (introduced in notebook 01).

    The shape of notebook 03's extraction answers: each note's first ``window`` tokens, a line break, then a span of
    ``span_tokens`` tokens taken from inside that window, read again. Returned like ``copy_probe``: the mean loss
    over the span where the note has it ("first reading") and over its repeat ("second reading"), each without
    the span's first token. Use held-out notes: text the model never trained on.
    """
    rng = random.Random(seed)
    newline = tokenizer("\n", add_special_tokens=False).input_ids
    first, second = [], []
    model.eval()
    for note in notes:
        ids = tokenizer(note, add_special_tokens=False, truncation=True, max_length=window).input_ids
        if len(ids) < span_tokens + 1:
            continue
        start = rng.randrange(0, len(ids) - span_tokens + 1)
        span = ids[start : start + span_tokens]
        seq = torch.tensor([[tokenizer.eos_token_id, *ids, *newline, *span]], device=model.device)
        with autocast(model):
            logits = model(input_ids=seq).logits.float()
        nll = torch.nn.functional.cross_entropy(logits[0, :-1], seq[0, 1:], reduction="none")  # nll[i]: token i+1
        first.append(nll[start + 1 : start + span_tokens])  # the span's tokens after its first, inside the note
        repeat = seq.shape[1] - span_tokens  # position of the repeat's first token
        second.append(nll[repeat : repeat + span_tokens - 1])
    if not first:
        raise ValueError(f"no note has {span_tokens + 1} tokens: pass longer notes or a smaller span_tokens.")
    return {"first reading": torch.cat(first).mean().item(), "second reading": torch.cat(second).mean().item()}


def copy_ratio(probe: dict[str, float]) -> float:
    """What the second reading costs as a share of the first: near 1 without copying, near 0 for a perfect copier."""
    return probe["second reading"] / probe["first reading"]


def copies(probe: dict[str, float], at_most: float = 0.5) -> bool:
    """True when the second reading costs at most ``at_most`` of the first: the model copies from its context."""
    return copy_ratio(probe) <= at_most


@torch.no_grad()
def next_token_table(model, tokenizer, prompt: str, k: int = 10) -> pd.DataFrame:
    """The ``k`` most likely next tokens after ``prompt`` with their probabilities."""
    ids = _prompt_ids(tokenizer, prompt, model.device)
    logits = model(input_ids=ids).logits[0, -1].float()
    probs = torch.softmax(logits, dim=-1)
    top = torch.topk(probs, k)
    return pd.DataFrame({
        "token": [repr(tokenizer.decode([i])) for i in top.indices.tolist()],
        "token_id": top.indices.tolist(),
        "probability": top.values.tolist(),
    }, index=pd.RangeIndex(1, k + 1, name="rank"))


@torch.no_grad()
def generate(model, tokenizer, prompt: str, max_new_tokens: int = 40, seed: int = 0, **sampling) -> str:
    """Continue ``prompt``; ``sampling`` goes to ``model.generate`` (do_sample, temperature, top_p...)."""
    torch.manual_seed(seed)
    ids = _prompt_ids(tokenizer, prompt, model.device)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                         pad_token_id=tokenizer.eos_token_id, **sampling)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def continuation_stats(tokenizer, text: str, known_ids: set[int]) -> dict:
    """How much of a generated ``text`` is made of token ids in ``known_ids`` (the training notes' tokens), and the
    share of its most frequent token (notebook 01: a short run repeats what is frequent in its data)."""
    from collections import Counter

    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        return {"tokens": 0, "in_notes": 0.0, "top_token": "", "top_share": 0.0}
    top, count = Counter(ids).most_common(1)[0]
    return {"tokens": len(ids), "in_notes": sum(i in known_ids for i in ids) / len(ids),
            "top_token": tokenizer.decode([top]), "top_share": count / len(ids)}
