"""Rules of thumb, the largest batch that fits, and time math (introduced in notebook 02; used by 03-04)."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

from .activations import Batch
from .memory import GIB, Setup, as_model, estimate

T4_FP16_TFLOPS = 65.0  # NVIDIA's T4 datasheet: peak fp16 tensor-core throughput (TFLOP/s)


def rules_of_thumb(n_params: int) -> dict[str, float]:
    """The common shortcuts, in bytes, for a model of ``n_params`` parameters.

    * the workshop slide: x billion parameters = 2x GB in fp16; training needs 6x to 16x GB;
    * "x1.2 for inference, x4 for training with Adam" (multiples of the fp16 weights);
    * ``accelerate estimate-memory``: its "Training using Adam" column is the *largest single*
      component (model, gradients, optimizer, step) for a batch of one, not their sum, and it
      ignores activations: 8 bytes/param in its float16 row and 16 in its float32 row.
    """
    return {
        "slide: fp16 weights (2 B/param)": 2 * n_params,
        "slide: training, low (6 B/param)": 6 * n_params,
        "slide: training, high (16 B/param)": 16 * n_params,
        "rule: inference = 1.2 x fp16 weights": 1.2 * 2 * n_params,
        "rule: Adam training = 4 x fp16 weights": 4 * 2 * n_params,
        "accelerate: float16 'Training using Adam'": 8 * n_params,
        "accelerate: float32 'Training using Adam'": 16 * n_params,
    }


def largest_batch(config, setup: Setup, seq_len: int, gpu_gib: float, checkpointing: bool, limit: int = 256) -> int:
    """The largest batch size whose estimate fits ``gpu_gib`` (0 if not even one sequence fits)."""
    model, best = as_model(config), 0  # build the meta model once, not once per batch size
    for b in range(1, limit + 1):
        batch = Batch(batch_size=b, seq_len=seq_len, grad_checkpointing=checkpointing)
        if not estimate(model, setup, batch).fits(gpu_gib):
            break
        best = b
    return best


def training_flops(n_params: int, tokens: int, method: str, checkpointing: bool) -> float:
    """About 6 x parameters x tokens for full fine-tuning (forward 2, backward 4: Kaplan et al. 2020).

    A frozen base skips the weight gradients, so LoRA/QLoRA need about 4 x N x T (the adapters add
    little); gradient checkpointing recomputes the forward pass once more: + 2 x N x T.
    """
    per_token = 6 if method == "full" else 4
    return (per_token + (2 if checkpointing else 0)) * n_params * tokens


def wall_time_seconds(flops: float, tflops: float = T4_FP16_TFLOPS, utilisation: float = 0.3) -> float:
    """Seconds at ``utilisation`` of a GPU's peak throughput (``tflops`` in TFLOP/s)."""
    return flops / (tflops * 1e12 * utilisation)


def gib(n_bytes: float) -> float:
    """Bytes to GiB."""
    return n_bytes / GIB


def cuda_step_peak(model, batch_size: int, seq_len: int, dtype) -> int:
    """Peak CUDA bytes allocated by one training step (forward, backward, AdamW step) on random tokens."""
    import torch

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
    import torch

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
