"""What a GPU session needs beyond the track rule: one model alive at a time, mixed precision, finite checks.

Introduced in notebook 02 (the T4's real memory), used by 03-05 and by ``python3 workbook.py gpu-check``.

* ``free()`` after ``del model`` returns the model's memory to the GPU, so two copies of phi-2 never coexist.
* ``autocast``/``grad_scaler`` give a half-precision body mixed precision with loss scaling.
* ``require_finite`` stops a notebook with one sentence when a loss or logits overflow (phi-2 is known to
  overflow fp16 in attention when the scores are computed in fp16, which is why we load it with SDPA).
"""

from __future__ import annotations

import contextlib
import gc
import math

from .runtime import WorkbookError


def free() -> None:
    """After ``del model``: collect the garbage and hand cached CUDA blocks back, so the next model has room."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def require_finite(value, what: str) -> None:
    """Stop with one sentence if ``value`` (a number or a tensor) holds NaN or infinity."""
    import torch

    finite = bool(torch.isfinite(value).all()) if isinstance(value, torch.Tensor) else math.isfinite(float(value))
    if not finite:
        raise WorkbookError(f"The {what} is not finite (NaN or infinity): in fp16 this is an overflow; lower the "
                            "learning rate, keep the model on attn_implementation='sdpa', or use bf16 on a GPU "
                            "with compute capability 8.0 or higher.")


def finite_loss_callback():
    """A transformers TrainerCallback that stops training with one sentence when a logged loss is not finite."""
    from transformers import TrainerCallback

    class FiniteLoss(TrainerCallback):
        """Check every logged training loss."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                require_finite(logs["loss"], f"training loss at step {state.global_step}")

    return FiniteLoss()


def autocast(model):
    """Autocast to the body's half precision (fp16/bf16, on GPU or CPU), so fp32 adapters and heads mix with it."""
    import torch

    param = next(model.parameters())
    if param.dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(param.device.type, dtype=param.dtype)


def grad_scaler(model):
    """A GradScaler that is on when the body is fp16 (small gradients would underflow to zero without it)."""
    import torch

    param = next(model.parameters())
    return torch.amp.GradScaler(param.device.type, enabled=param.dtype == torch.float16)
