"""Activations, logits and KV cache: the part of the memory bill that grows with batch size and sequence
length (introduced in notebook 02; ``helpers.memory.estimate`` adds it to the static part).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .memory import BYTES, LORA_BYTES, Setup
from .runtime import WorkbookError


@dataclass(frozen=True)
class Batch:
    """The dynamic settings: tokens in flight and how backward is run."""

    batch_size: int = 1
    seq_len: int = 512
    grad_checkpointing: bool = False
    lora_dropout: float = 0.05
    attention: str = "sdpa"  # transformers' default; "eager" materialises the s x s attention matrix
    new_tokens: int = 0  # inference: tokens generated after the prompt (they grow the KV cache)
    device: str = "cuda"  # dropout masks are 1-byte bools on CUDA, activation-sized on CPU

    def __post_init__(self):
        if self.batch_size < 1 or self.seq_len < 1 or self.new_tokens < 0:
            raise WorkbookError(f"batch_size={self.batch_size} and seq_len={self.seq_len} must be at least 1 "
                                f"(and new_tokens={self.new_tokens} not negative).")
        if self.attention not in ("sdpa", "eager"):
            raise WorkbookError(f"attention={self.attention!r} is unknown: use 'sdpa' or 'eager'.")


def layer_activation_bytes(config, setup: Setup, batch: Batch) -> int:
    """Bytes one Phi decoder layer saves for backward (per the tensor list below).

    Source: Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models"
    (arXiv 2205.05198), section 4.1: ``s*b*h*(34 + 5*a*s/h)`` bytes per layer in 16-bit. We redo their
    tally for Phi as transformers implements it, and checked every term with saved-tensor hooks:
    SDPA saves q, k, v and its output (4h) and no s x s matrix (the 5as/h term vanishes); the input
    layernorm saves its input (h); Phi's ``gelu_new`` is written in Python and saves four f-sized
    tensors; residual dropout keeps two h-sized masks. Trainable base linears also keep their inputs
    (layernorm output h, attention output h, GELU output f). LoRA adapters keep their own inputs,
    cast to fp32 when the compute precision is lower (peft keeps adapters in fp32), plus the
    dropout output when ``lora_dropout > 0``.
    """
    n, h, f = batch.batch_size * batch.seq_len, config.hidden_size, config.intermediate_size
    a, mask = BYTES[setup.compute], 1 if batch.device == "cuda" else BYTES[setup.compute]
    per_token = 4 * h * a + h * a + 4 * f * a
    per_token += 2 * h * mask if getattr(config, "resid_pdrop", 0) > 0 else 0
    if batch.attention == "eager":
        per_token += 2 * config.num_attention_heads * batch.seq_len * a  # scores and softmax, s x s per head
    if setup.method == "full":
        per_token += (2 * h + f) * a
    elif setup.method in ("lora", "qlora"):
        widths = [f if t == "fc2" else h for t in setup.target_modules]
        if LORA_BYTES != a:
            per_token += sum(widths) * LORA_BYTES  # each adapter's own fp32 copy of its input
        else:  # same dtype: adapters keep the very tensors the base computed
            targets = set(setup.target_modules)
            per_token += h * a if targets & {"q_proj", "k_proj", "v_proj", "fc1"} else 0  # layernorm output
            per_token += (h * a if "dense" in targets else 0) + (f * a if "fc2" in targets else 0)
        if batch.lora_dropout > 0:
            per_token += sum(widths) * LORA_BYTES
        per_token += len(setup.target_modules) * setup.lora_rank * LORA_BYTES  # the rank-r intermediates
    return int(n * per_token)


def activation_bytes(config, setup: Setup, batch: Batch) -> int:
    """Activations kept for backward by all layers; with checkpointing only each layer's input is kept,
    and one layer's activations come back at a time during backward."""
    if setup.method == "inference":
        n = batch.batch_size * batch.seq_len  # no backward: one layer's working set at a time
        return int(n * (2 * config.intermediate_size + 4 * config.hidden_size) * BYTES[setup.compute])
    one_layer = layer_activation_bytes(config, setup, batch)
    if not batch.grad_checkpointing:
        return config.num_hidden_layers * one_layer
    layer_inputs = config.num_hidden_layers * batch.batch_size * batch.seq_len * config.hidden_size
    return int(layer_inputs * BYTES[setup.compute]) + one_layer


def logits_bytes(config, setup: Setup, batch: Batch) -> int:
    """Peak bytes around the loss: logits in the compute dtype, their fp32 copy and its gradient.

    Generation only needs logits for the last position of each sequence.
    """
    positions = batch.batch_size * (1 if setup.method == "inference" else batch.seq_len)
    per_position = config.vocab_size * (BYTES[setup.compute] + (0 if setup.method == "inference" else 8))
    return int(positions * per_position)


def kv_cache_bytes(config, setup: Setup, batch: Batch) -> int:
    """Keys and values of every layer for every cached token (inference with generation only)."""
    if setup.method != "inference" or batch.new_tokens == 0:
        return 0
    kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = config.hidden_size // config.num_attention_heads
    tokens = batch.batch_size * (batch.seq_len + batch.new_tokens)
    return int(2 * config.num_hidden_layers * tokens * kv_heads * head_dim * BYTES[setup.compute])


def saved_for_backward(model: torch.nn.Module, input_ids: torch.Tensor) -> int:
    """Measure the bytes autograd keeps for backward in one forward pass (parameters excluded).

    Uses ``torch.autograd.graph.saved_tensors_hooks``; tensors sharing storage are counted once.
    """
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            kept[storage.data_ptr()] = storage.nbytes()
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=input_ids, labels=input_ids)
    return sum(kept.values())
