"""GPU memory math for running and fine-tuning a causal LM (introduced in notebook 02; used by 03, 04 and 06).

The *static* part of the bill, everything whose size does not depend on the batch, is computed from
parameter counts of the model built on the meta device (no weights are downloaded); the *dynamic* part
(activations, logits, KV cache) grows with batch size and sequence length (``Batch``); ``estimate()`` adds both.
What is measured on real tensors, to check these numbers, lives in ``helpers.measure``.

Static:

* weights: linear layers inside the decoder in the chosen precision, with bitsandbytes' NF4/int8
  quantization constants counted exactly; everything else (embeddings, norms, biases, ``lm_head``,
  which bitsandbytes leaves unquantized) in the compute precision;
* LoRA parameters (peft keeps adapters in fp32 even on an fp16/bf16 base);
* gradients and optimizer states of whatever is trainable (AdamW 32-bit, bitsandbytes 8-bit, paged).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .models import PHI2_TARGET_MODULES
from .runtime import WorkbookError

GIB = 2**30
BYTES = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "int8": 1.0, "nf4": 0.5}
FLOAT_PRECISIONS = ("fp32", "fp16", "bf16")
METHODS = ("inference", "full", "lora", "qlora")
OPTIMIZERS = ("adamw", "paged_adamw_32bit", "adamw_8bit", "paged_adamw_8bit")
NF4_BLOCK = 64  # bitsandbytes' default 4-bit block size: one absmax per 64 weights
NESTED_BLOCK = 256  # double quantization: one fp32 absmax per 256 (8-bit) absmax values
OPT8_BLOCK = 256  # 8-bit optimizer states: one fp32 absmax per 256 values
OPT8_MIN_SIZE = 4096  # bitsandbytes keeps tensors smaller than this in 32-bit optimizer states
LORA_BYTES = 4  # peft upcasts adapter weights to fp32 (autocast_adapter_dtype=True)


@dataclass(frozen=True)
class Setup:
    """What we want to do with the model; one clear error for each impossible combination."""

    method: str = "lora"  # inference | full | lora | qlora
    weights: str = "fp16"  # storage of the base model's linear weights: fp32 | fp16 | bf16 | int8 | nf4
    compute: str = "fp16"  # precision of everything else and of the activations: fp32 | fp16 | bf16
    double_quant: bool = True  # NF4 only: quantize the quantization constants too
    optimizer: str = "adamw"
    lora_rank: int = 16
    target_modules: tuple[str, ...] = PHI2_TARGET_MODULES

    def __post_init__(self):
        if self.method not in METHODS:
            raise WorkbookError(f"method={self.method!r} is unknown: use one of {', '.join(METHODS)}.")
        if self.weights not in BYTES:
            raise WorkbookError(f"weights={self.weights!r} is unknown: use one of {', '.join(BYTES)}.")
        if self.compute not in FLOAT_PRECISIONS:
            raise WorkbookError(f"compute={self.compute!r} must be a float precision: fp32, fp16 or bf16.")
        if self.optimizer not in OPTIMIZERS:
            raise WorkbookError(f"optimizer={self.optimizer!r} is unknown: use one of {', '.join(OPTIMIZERS)}.")
        if self.method in ("lora", "qlora") and (self.lora_rank < 1 or not self.target_modules):
            raise WorkbookError(f"lora_rank={self.lora_rank} must be at least 1 and target_modules non-empty.")
        quantized = self.weights in ("int8", "nf4")
        if self.method == "qlora" and not quantized:
            raise WorkbookError(f"QLoRA trains on a quantized base: set weights='nf4' (or 'int8'), "
                                f"not {self.weights!r}.")
        if self.method in ("full", "lora") and quantized:
            hint = "use method='qlora'" if self.method == "lora" else "a quantized model cannot be fully fine-tuned"
            raise WorkbookError(f"method={self.method!r} needs float weights (fp32, fp16 or bf16): {hint}.")


@dataclass(frozen=True)
class Inventory:
    """Parameter shapes of a model, read off the meta device."""

    linears: tuple[tuple[str, int, int], ...]  # (name, in_features, out_features) of quantizable linears
    other: tuple[int, ...]  # sizes of every other parameter tensor (embeddings, norms, biases, lm_head)
    buffer_bytes: int = 0  # buffers such as rotary inv_freq, kept in their own dtype

    @property
    def total(self) -> int:
        """All parameters."""
        return sum(i * o for _, i, o in self.linears) + sum(self.other)


def as_model(model_or_config) -> torch.nn.Module:
    """The model itself, or one built from a config on the meta device (shapes only, no memory)."""
    from .models import on_meta

    return model_or_config if isinstance(model_or_config, torch.nn.Module) else on_meta(model_or_config)


def inventory(model_or_config) -> Inventory:
    """Split a model's parameters into quantizable linear weights and the rest (no weights are loaded)."""
    model = as_model(model_or_config)
    output = model.get_output_embeddings()
    linears, quantized = [], set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module is not output:
            linears.append((name, module.in_features, module.out_features))
            quantized.add(id(module.weight))
    other = tuple(p.numel() for p in model.parameters() if id(p) not in quantized)
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    return Inventory(tuple(linears), other, buffers)


def nf4_bytes(numel: int, double_quant: bool = True) -> int:
    """Bytes bitsandbytes stores for one NF4 weight: packed 4-bit values plus quantization constants."""
    blocks = math.ceil(numel / NF4_BLOCK)
    code = 16 * 4  # the 16 NF4 levels, fp32
    if not double_quant:
        return math.ceil(numel / 2) + blocks * 4 + code
    nested = math.ceil(blocks / NESTED_BLOCK) * 4 + 256 * 4 + 4  # fp32 absmax per 256, 8-bit code, offset
    return math.ceil(numel / 2) + blocks + nested + code


def linear_weight_bytes(in_features: int, out_features: int, precision: str, double_quant: bool = True) -> int:
    """Bytes of one linear layer's weight matrix stored in ``precision`` (quantization constants included)."""
    numel = in_features * out_features
    if precision == "nf4":
        return nf4_bytes(numel, double_quant)
    if precision == "int8":
        return numel + out_features * 4  # LLM.int8: int8 weights plus one fp32 scale per output row
    return int(numel * BYTES[precision])


def lora_shapes(inv: Inventory, rank: int, targets) -> list[int]:
    """Sizes of the LoRA A and B matrices peft adds for ``targets`` (matched like peft: by name suffix)."""
    sizes = []
    for name, i, o in inv.linears:
        if any(name == t or name.endswith(f".{t}") for t in targets):
            sizes += [rank * i, o * rank]
    return sizes


def optimizer_bytes(sizes: list[int], param_bytes: float, optimizer: str) -> int:
    """AdamW's two states per trainable tensor: same dtype as the parameter, or 8-bit blockwise."""
    if optimizer in ("adamw", "paged_adamw_32bit"):
        return int(2 * sum(sizes) * param_bytes)
    total = 0
    for n in sizes:  # bitsandbytes: 8-bit states with a fp32 absmax per block, small tensors stay 32-bit
        total += 2 * (n + math.ceil(n / OPT8_BLOCK) * 4) if n >= OPT8_MIN_SIZE else 2 * n * 4
    return total


def trainable_sizes(inv: Inventory, setup: Setup) -> list[int]:
    """Sizes of the tensors ``setup`` trains: every parameter (full), the adapters (LoRA), none (inference)."""
    if setup.method == "full":
        return [i * o for _, i, o in inv.linears] + list(inv.other)
    if setup.method == "inference":
        return []
    sizes = lora_shapes(inv, setup.lora_rank, setup.target_modules)
    if not sizes:
        raise WorkbookError(f"No linear layer matches target_modules={list(setup.target_modules)}: "
                            "check the module names (phi-2 uses q_proj, k_proj, v_proj, dense, fc1, fc2).")
    return sizes


def static_bytes(model_or_config, setup: Setup) -> dict[str, int]:
    """Bytes per static component: weights (linear and other), LoRA parameters, gradients, optimizer states."""
    inv = inventory(model_or_config)
    compute = BYTES[setup.compute]
    parts = {
        "linear weights": sum(linear_weight_bytes(i, o, setup.weights, setup.double_quant) for _, i, o in inv.linears),
        "other weights": int(sum(inv.other) * (BYTES[setup.weights] if setup.method == "full" else compute))
        + inv.buffer_bytes,
        "LoRA parameters": 0, "gradients": 0, "optimizer states": 0,
    }
    sizes = trainable_sizes(inv, setup)
    if not sizes:
        return parts
    param_bytes = BYTES[setup.weights] if setup.method == "full" else LORA_BYTES
    if setup.method != "full":
        parts["LoRA parameters"] = int(sum(sizes) * param_bytes)
    parts["gradients"] = int(sum(sizes) * param_bytes)
    parts["optimizer states"] = optimizer_bytes(sizes, param_bytes, setup.optimizer)
    return parts


def trainable_parameters(model_or_config, setup: Setup) -> int:
    """How many parameters ``setup`` trains (all for full fine-tuning, the adapters for (Q)LoRA)."""
    return sum(trainable_sizes(inventory(model_or_config), setup))


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


CUDA_CONTEXT_BYTES = int(0.5 * GIB)  # CUDA context and cuBLAS workspace: outside torch's allocator, an allowance


@dataclass(frozen=True)
class Estimate:
    """Bytes per component, their total and whether it fits a GPU of a given size."""

    parts: dict[str, int]

    @property
    def total(self) -> int:
        """All components plus the CUDA context allowance."""
        return sum(self.parts.values()) + CUDA_CONTEXT_BYTES

    def fits(self, gpu_gib: float) -> bool:
        """True if the total fits in ``gpu_gib`` GiB."""
        return self.total <= gpu_gib * GIB


def estimate(model_or_config, setup: Setup, batch=None) -> Estimate:
    """The whole bill for ``setup`` at ``batch`` (a ``Batch``): static parts, activations,
    logits, KV cache."""
    batch = batch or Batch()
    config = model_or_config.config if isinstance(model_or_config, torch.nn.Module) else model_or_config
    parts = static_bytes(model_or_config, setup)
    parts["activations"] = activation_bytes(config, setup, batch)
    parts["logits"] = logits_bytes(config, setup, batch)
    parts["KV cache"] = kv_cache_bytes(config, setup, batch)
    return Estimate(parts)


# More than one GPU (notebook 06): what one data-parallel rank holds.
SHARDINGS = ("replicated", "zero1", "zero2", "zero3")  # zero3 is also FSDP's FULL_SHARD
SHARDED = {  # which parts of the bill each strategy divides by the number of ranks
    "replicated": (),  # DDP: every rank holds everything
    "zero1": ("optimizer states",),
    "zero2": ("optimizer states", "gradients"),
    "zero3": ("optimizer states", "gradients", "LoRA parameters", "linear weights", "other weights"),
}


def fsdp_units(model_or_config) -> dict[str, int]:
    """Parameters per unit that FSDP (or ZeRO-3) gathers whole for a forward or backward: one decoder layer, when
    wrapping the decoder layer class, and the root (embeddings, final norm, ``lm_head``) that stays outside it."""
    model = as_model(model_or_config)
    layers = model.get_decoder().layers
    layer = sum(p.numel() for p in layers[0].parameters())
    return {"decoder layer": layer, "root": sum(p.numel() for p in model.parameters()) - len(layers) * layer}


def per_rank(parts: dict[str, int], world_size: int, sharding: str, gathered_bytes: int = 0) -> dict[str, int]:
    """What one of ``world_size`` data-parallel ranks holds of a bill (``estimate(...).parts``) under ``sharding``.

    Divided by N (rounded up): the optimizer states (ZeRO-1), also the gradients (ZeRO-2), also every weight, frozen
    or trained (ZeRO-3 / FSDP full shard). Never divided: activations, logits and the KV cache, which belong to the
    rank's own batch. ZeRO-3 adds ``gathered_bytes``: the largest unit it gathers whole at a time.
    """
    if sharding not in SHARDINGS:
        raise WorkbookError(f"SHARDING={sharding!r}: use one of {', '.join(SHARDINGS)}.")
    if world_size < 1:
        raise WorkbookError(f"WORLD_SIZE={world_size} must be at least 1.")
    rank = {k: math.ceil(v / world_size) if k in SHARDED[sharding] else v for k, v in parts.items()}
    if sharding == "zero3" and world_size > 1:
        rank["gathered unit"] = gathered_bytes
    return rank


def _one_device(model_or_config, setup: Setup, batch: Batch, sharding: str) -> tuple[dict[str, int], int]:
    """The bill of one device holding everything, and the bytes of the largest unit ZeRO-3 / FSDP gathers whole
    (in the compute precision, as FSDP's mixed precision gathers it; 0 for the other strategies)."""
    gathered = max(fsdp_units(model_or_config).values()) * BYTES[setup.compute] if sharding == "zero3" else 0
    return estimate(model_or_config, setup, batch).parts, int(gathered)


def rank_estimate(model_or_config, setup: Setup, batch: Batch, world_size: int, sharding: str) -> Estimate:
    """One rank's bill: ``estimate`` per device, divided as ``sharding`` does, plus the largest gathered unit."""
    parts, gathered = _one_device(model_or_config, setup, batch, sharding)
    return Estimate(per_rank(parts, world_size, sharding, gathered))


def fewest_gpus(model_or_config, setup: Setup, batch: Batch, sharding: str, gpu_gib: float,
                most: int = 64) -> int | None:
    """The fewest data-parallel ranks whose per-rank bill fits ``gpu_gib``; None if even ``most`` do not."""
    parts, gathered = _one_device(model_or_config, setup, batch, sharding)  # once: only the division changes with N
    for world_size in range(1, most + 1):
        if Estimate(per_rank(parts, world_size, sharding, gathered)).fits(gpu_gib):
            return world_size
    return None
