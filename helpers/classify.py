"""The two-stage classifier: variants, adapter wiring, gradient proof, training and scoring (notebook 05).

A Phi sequence-classification model (the causal LM's body plus a linear ``score`` head on the last
real token) with up to two LoRA adapters: ``clinical`` from stage 1 (frozen or trainable) and a fresh
``downstream`` one. One head can serve several tasks: each task owns a slice of its outputs.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .gpu import autocast, grad_scaler, require_finite
from .outcomes import Labels
from .runtime import WorkbookError, choose

GROUPS = ("backbone", "clinical", "downstream", "head")
TRACK_DEFAULTS = {  # what fits the time: minutes on 2 CPU cores; under 20 minutes on a T4 (notebook 02 predicts it)
    # CPU: a 4-layer, 128-wide model's last token holds little of a note, so its head reads the mean of every
    # token's state ("mean"); phi-2 keeps the paper's last-token pooling ("last")
    "cpu": {"n_notes": 3000, "n_train": 800, "max_length": 192, "stage1_steps": 30, "stage1_batch": 8,
            "stage1_lr": 5e-3, "epochs": 2, "batch_size": 8, "adapter_lr": 1e-3, "head_lr": 5e-2, "pooling": "mean"},
    "gpu": {"n_notes": 3000, "n_train": 400, "max_length": 512, "stage1_steps": 60, "stage1_batch": 4,
            "stage1_lr": 2e-4, "epochs": 1, "batch_size": 4, "adapter_lr": 2e-4, "head_lr": 1e-3, "pooling": "last"},
}
POOLINGS = ("last", "mean")


def track_settings(track: str, **chosen) -> dict:
    """The track's defaults for notebook 05, overridden by every setting in ``chosen`` that is not None."""
    settings = choose(TRACK_DEFAULTS, track, **chosen)
    check_pooling(settings["pooling"])
    return settings


def check_pooling(pooling: str) -> None:
    """One sentence for a ``POOLING`` that is not one of ``POOLINGS``."""
    if pooling not in POOLINGS:
        raise WorkbookError(f"POOLING={pooling!r}: use 'last' (the paper's last-token pooling), 'mean' "
                            "or None (the track's default).")


@dataclass(frozen=True)
class Variant:
    """One row of the paper's Table 3: which adapters the classifier carries and which of them train."""

    key: str
    name: str
    clinical: str  # "none", "frozen" or "trainable"
    downstream: bool

    @property
    def adapters(self) -> list[str]:
        """The adapters that must be active in the forward pass."""
        return ["clinical"] * (self.clinical != "none") + ["downstream"] * self.downstream

    @property
    def trainable(self) -> set[str]:
        """The parameter groups that must receive gradients."""
        return {"head"} | {g for g, on in (("clinical", self.clinical == "trainable"),
                                             ("downstream", self.downstream)) if on}


VARIANTS: dict[str, Variant] = {v.key: v for v in (
    Variant("a", "head only", "none", False),
    Variant("b", "+ LoRA", "none", True),
    Variant("c", "+ Clinical LoRA frozen", "frozen", False),
    Variant("d", "+ Clinical LoRA frozen + Downstream LoRA", "frozen", True),
    Variant("e", "+ Clinical LoRA trainable", "trainable", False),
    Variant("f", "+ Clinical LoRA trainable + Downstream LoRA", "trainable", True),
)}


def variants_from(keys: str) -> list[Variant]:
    """The Variant for each letter of ``keys`` (the VARIANTS parameter), with one clear error for a typo."""
    bad = [k for k in keys if k not in VARIANTS]
    if bad or not keys:
        raise WorkbookError(f"VARIANTS={keys!r}: use letters from 'abcdef' (e.g. 'abcdef' or 'af').")
    return [VARIANTS[k] for k in keys]


def group_of(name: str) -> str:
    """Which group a parameter belongs to, by its name: head, clinical or downstream adapter, or backbone."""
    if ".score." in f".{name}":
        return "head"
    for adapter in ("clinical", "downstream"):
        if f".{adapter}." in name:
            return adapter
    return "backbone"


def body_dir(rt) -> str:
    """Where the classifier's body comes from: the tiny model's folder on the CPU track, else ``rt.model``."""
    from .models import tiny_model_dir
    from .runtime import TINY_MODEL

    return str(tiny_model_dir()) if rt.model == TINY_MODEL else rt.model


def load_classifier(model_dir, n_outputs: int, pad_token_id: int, dtype=torch.float32, device="cpu", seed: int = 0):
    """A PhiForSequenceClassification from a causal-LM checkpoint, with a fresh fp32 head and pad_token_id set."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    from .models import no_progress_bars

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "score.weight newly initialized" report is expected here
    try:
        with no_progress_bars():
            model = AutoModelForSequenceClassification.from_pretrained(
                model_dir, num_labels=n_outputs, pad_token_id=pad_token_id, dtype=dtype, attn_implementation="sdpa")
    finally:
        hf_logging.set_verbosity(level)
    return new_head(model.to(device), n_outputs, seed)


def new_head(model, n_outputs: int, seed: int = 0):
    """Give the classifier a freshly initialised fp32 ``score`` head with ``n_outputs`` outputs (same seed, same
    start), so one loaded body serves every variant and task group."""
    torch.manual_seed(seed)
    hidden = model.config.hidden_size
    model.score = torch.nn.Linear(hidden, n_outputs, bias=False, device=model.device, dtype=torch.float32)
    torch.nn.init.normal_(model.score.weight, std=model.config.initializer_range)
    model.config.num_labels = n_outputs
    return model


def unwire(model):
    """Remove every LoRA adapter without merging it and return the bare classifier, ready for the next variant."""
    from peft import PeftModel

    return model.unload() if isinstance(model, PeftModel) else model


def attach_clinical(model, clinical_dir):
    """The stage-1 adapter, loaded by name as ``clinical`` onto a classifier (peft's from_pretrained)."""
    from peft import LoraConfig, PeftModel

    config = LoraConfig.from_pretrained(str(clinical_dir))
    config.task_type = None  # stage 1 saved a causal-LM adapter; here it sits under a classification head
    return PeftModel.from_pretrained(model, str(clinical_dir), adapter_name="clinical", config=config,
                                     is_trainable=True)


def wire_variant(model, variant: Variant, clinical_dir, downstream_config):
    """Attach the variant's adapters, make them all active, and let exactly its groups train."""
    from peft import get_peft_model

    if variant.adapters:
        if variant.clinical != "none":
            model = attach_clinical(model, clinical_dir)
            if variant.downstream:
                model.add_adapter("downstream", downstream_config)  # added, but NOT active yet
        else:
            model = get_peft_model(model, downstream_config, adapter_name="downstream")
        model.base_model.set_adapter(variant.adapters)  # a list: every adapter in it joins the forward pass
    for name, param in model.named_parameters():  # set_adapter made every active adapter trainable: redo it
        param.requires_grad = group_of(name) in variant.trainable
    return model


@contextlib.contextmanager
def without_adapter(model, adapter: str):
    """Temporarily scale one LoRA adapter to zero everywhere (to measure what it adds to the output)."""
    layers = [m for m in model.modules() if isinstance(getattr(m, "scaling", None), dict) and adapter in m.scaling]
    saved = [m.scaling[adapter] for m in layers]
    for m in layers:
        m.scaling[adapter] = 0.0
    try:
        yield len(layers)
    finally:
        for m, s in zip(layers, saved, strict=True):
            m.scaling[adapter] = s


def logits_of(model, batch: dict, pooling: str = "last") -> torch.Tensor:
    """The classifier's logits for a padded batch, pooled over the note as ``pooling`` says.

    ``"last"``: the sequence classifier's own forward, which scores the last real token (the paper's choice, and
    what ``PhiForSequenceClassification`` does). ``"mean"``: the body's final hidden states averaged over the real
    tokens, then the same ``score`` head; LoRA layers sit inside the body, so every adapter still takes part.
    """
    if pooling == "last":
        return model(**batch).logits
    check_pooling(pooling)
    from peft import PeftModel

    classifier = model.get_base_model() if isinstance(model, PeftModel) else model
    hidden = classifier.model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return classifier.score((hidden * mask).sum(1) / mask.sum(1))


def gradient_check(model, batch: dict, loss_fn, pooling: str = "last") -> pd.DataFrame:
    """One forward and backward pass: per group, tensors, trainable tensors, gradient norm, and for
    adapters the largest change in the logits when that adapter is switched off (> 0: it is active)."""
    model.zero_grad(set_to_none=True)
    with autocast(model):  # a fp32 head on a fp16 body needs autocast in every forward, checks included
        logits = logits_of(model, batch, pooling)
        loss_fn(logits).backward()
    rows = {g: {"tensors": 0, "trainable": 0, "grad_norm": 0.0} for g in GROUPS}
    for name, param in model.named_parameters():
        row = rows[group_of(name)]
        row["tensors"] += 1
        row["trainable"] += int(param.requires_grad)
        if param.grad is not None:
            row["grad_norm"] += float(param.grad.float().pow(2).sum())
    model.zero_grad(set_to_none=True)
    table = pd.DataFrame(rows).T
    table["grad_norm"] = table["grad_norm"] ** 0.5
    table["got_gradient"] = table["grad_norm"] > 0
    with torch.no_grad(), autocast(model):
        for adapter in ("clinical", "downstream"):
            with without_adapter(model, adapter) as n_layers:
                change = (logits_of(model, batch, pooling) - logits.detach()).abs().max() if n_layers else None
                table.loc[adapter, "logit_change_when_off"] = float("nan") if change is None else float(change)
    return table.astype({"tensors": int, "trainable": int})


def head_layout(labels: list[Labels]) -> list[tuple[Labels, slice]]:
    """Each task's slice of the shared head's outputs, in order."""
    layout, start = [], 0
    for lab in labels:
        layout.append((lab, slice(start, start + lab.width)))
        start += lab.width
    return layout


def task_loss(lab: Labels, logits: torch.Tensor, rows) -> torch.Tensor:
    """Class-weighted cross-entropy (single-label) or mean binary cross-entropy (multi-label) on ``rows``."""
    logits = logits.float()
    if lab.task.kind == "multilabel":
        return F.binary_cross_entropy_with_logits(logits, torch.as_tensor(lab.train[rows], device=logits.device))
    weight = torch.as_tensor(lab.weights, device=logits.device)
    return F.cross_entropy(logits, torch.as_tensor(lab.train[rows], device=logits.device), weight=weight)


def total_loss(layout, logits: torch.Tensor, rows) -> torch.Tensor:
    """The sum of every task's loss on its slice of the head."""
    return sum(task_loss(lab, logits[:, cut], rows) for lab, cut in layout)


def encode(tokenizer, texts, max_length: int) -> list[list[int]]:
    """Token ids of each text, cut to ``max_length`` (keeping the start), with no padding yet."""
    if max_length < 8:
        raise WorkbookError(f"NOTE_TOKENS={max_length} is too short for a note: use 128 or more.")
    return tokenizer(list(texts), truncation=True, max_length=max_length, add_special_tokens=False)["input_ids"]


def collate(ids: list[list[int]], rows, pad_id: int, device) -> dict:
    """Right-padded input_ids and attention_mask for ``rows`` (the model scores each row's last real token)."""
    chunk = [ids[i] for i in rows]
    width = max(map(len, chunk))
    input_ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(chunk), width), dtype=torch.long)
    for j, seq in enumerate(chunk):
        input_ids[j, : len(seq)], mask[j, : len(seq)] = torch.tensor(seq), 1
    return {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}


def train_classifier(model, ids, layout, *, epochs: int, batch_size: int, head_lr: float, adapter_lr: float,
                     pad_id: int, pooling: str = "last", seed: int = 0) -> dict:
    """AdamW on the trainable parameters (head and adapters at their own rates), warm-up then linear decay."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [{"params": [p for n, p in params if group_of(n) == "head"], "lr": head_lr},
              {"params": [p for n, p in params if group_of(n) != "head"], "lr": adapter_lr}]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=0.0)
    total = epochs * math.ceil(len(ids) / batch_size)
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min((s + 1) / warmup, (total - s) / total))
    scaler = grad_scaler(model)
    generator, device, losses, start = torch.Generator().manual_seed(seed), model.device, [], time.time()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(ids), generator=generator).tolist()
        for i in range(0, len(order), batch_size):
            rows = order[i : i + batch_size]
            with autocast(model):
                loss = total_loss(layout, logits_of(model, collate(ids, rows, pad_id, device), pooling), rows)
            require_finite(loss, "classifier's training loss")
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_([p for _, p in params], 1.0)
            scaler.step(optimizer)
            scaler.update()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
    model.eval()
    return {"losses": losses, "steps": total, "seconds": time.time() - start}


@torch.no_grad()
def predict(model, ids, layout, pad_id: int, pooling: str = "last", batch_size: int = 64) -> dict[str, np.ndarray]:
    """Per task: class probabilities (softmax) or per-label probabilities (sigmoid) for every note."""
    model.eval()
    chunks = []
    for i in range(0, len(ids), batch_size):
        with autocast(model):
            batch = collate(ids, range(i, min(i + batch_size, len(ids))), pad_id, model.device)
            chunks.append(logits_of(model, batch, pooling).float().cpu())
    logits = torch.cat(chunks)
    return {lab.task.column: (logits[:, cut].sigmoid() if lab.task.kind == "multilabel"
                              else logits[:, cut].softmax(-1)).numpy() for lab, cut in layout}
