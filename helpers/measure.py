"""Measuring memory on real tensors, to check notebook 02's estimator (used in notebooks 02-05).

``measured_bytes`` weighs a loaded model (quantization constants included), ``saved_for_backward`` the tensors
autograd keeps in one forward pass, ``cuda_step_peak`` the CUDA peak of one training step, and ``peak_memory``
meters a block of code: the CUDA peak on a GPU, the process's peak resident memory on CPU. ``held`` counts the
training state one data-parallel rank stores, its own slices of sharded tensors only (notebook 06).
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import torch


def measured_bytes(model: torch.nn.Module) -> int:
    """Bytes of every parameter, buffer and bitsandbytes quantization state a loaded model holds.

    ``model.get_memory_footprint()`` counts parameters and buffers only, so it misses the NF4 absmax
    constants that bitsandbytes keeps in each weight's ``quant_state``.
    """
    seen, total = set(), 0

    def add(t):
        nonlocal total
        if torch.is_tensor(t) and t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()

    for t in [*model.parameters(), *model.buffers()]:
        add(t)
        state = getattr(t, "quant_state", None)
        for part in (state, getattr(state, "state2", None)):
            if part is not None:
                for field in ("absmax", "code", "offset"):
                    add(getattr(part, field, None))
        add(getattr(t, "SCB", None))
    return total


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


def cuda_step_peak(model, batch_size: int, seq_len: int, dtype) -> int:
    """Peak CUDA bytes allocated by one training step (forward, backward, AdamW step) on random tokens."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    ids = torch.randint(model.config.vocab_size, (batch_size, seq_len), device=model.device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model.train()
    with torch.autocast("cuda", dtype=dtype):  # mixed precision, as the Trainer runs it
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return torch.cuda.max_memory_allocated()


def _rss_bytes() -> int | None:
    """This process's resident memory now (Linux /proc), or None where it cannot be read."""
    try:
        pages = int(open("/proc/self/statm").read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def peak_memory(device: str):
    """Measure the peak memory of the block: CUDA peak allocated on a GPU, process peak RSS on CPU.

    Yields a dict that gets ``kind``, ``baseline`` (bytes in use at the start), ``peak`` and ``used``
    on exit. On CPU a background thread samples the resident set every 20 ms; RSS also counts the
    Python runtime and the libraries, so ``used`` is ``peak - baseline`` there. On CUDA ``used`` is
    the peak allocated, weights included (the CUDA context is not part of it).
    """
    result: dict = {"kind": "CUDA peak allocated" if device == "cuda" else "process peak RSS"}
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        result["baseline"] = torch.cuda.memory_allocated()
        yield result
        result["peak"] = result["used"] = torch.cuda.max_memory_allocated()
        return
    samples = [_rss_bytes() or 0]
    done = threading.Event()

    def sample():
        while not done.wait(0.02):
            samples.append(_rss_bytes() or 0)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    result["baseline"] = samples[0]
    try:
        yield result
    finally:
        done.set()
        thread.join()
        result["peak"] = max(samples)
        result["used"] = result["peak"] - result["baseline"]


def local_bytes(tensor) -> int:
    """Bytes this rank stores of a tensor: its own slice of a sharded DTensor, all of a plain tensor."""
    local = tensor.to_local() if hasattr(tensor, "to_local") else tensor
    return local.numel() * local.element_size()


def held(model, optimizer) -> dict[str, int]:
    """The bytes of the training state this rank stores (gradients as left by the last backward)."""
    out = {"frozen weights": 0, "LoRA parameters": 0, "gradients": 0, "optimizer states": 0}
    for p in model.parameters():
        out["LoRA parameters" if p.requires_grad else "frozen weights"] += local_bytes(p)
        if p.grad is not None:
            out["gradients"] += local_bytes(p.grad)
    inner = getattr(optimizer, "optim", optimizer)  # ZeroRedundancyOptimizer keeps this rank's AdamW in .optim
    for state in inner.state.values():
        out["optimizer states"] += sum(local_bytes(v) for v in state.values() if torch.is_tensor(v) and v.dim())
    return out
