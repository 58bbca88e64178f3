"""What a GPU session needs beyond the track rule: T4 emulation, one model alive at a time, finite checks.

Introduced in notebook 02 (the T4's real memory), used by 03-05 and by ``python3 workbook.py gpu-check``.

* ``WORKBOOK_EMULATE_T4=1`` makes any CUDA GPU behave like a Colab T4 for memory and precision: fp16 whatever the
  compute capability, torch's memory capped to what a T4 gives torch, and only the attention kernels a T4 has
  (PyTorch's flash kernel needs compute capability 8.0; a T4 runs the memory-efficient or the math kernel).
* ``free()`` after ``del model`` returns the model's memory to the GPU, so two copies of phi-2 never coexist.
* ``autocast``/``grad_scaler`` give a half-precision body mixed precision with loss scaling.
* ``require_finite`` stops a notebook with one sentence when a loss or logits overflow (phi-2 is known to
  overflow fp16 in attention when the scores are computed in fp16, which is why we load it with SDPA).
"""

from __future__ import annotations

import contextlib
import gc
import math
import os

from .runtime import WorkbookError

EMULATE_ENV = "WORKBOOK_EMULATE_T4"
T4_NVIDIA_SMI_MIB = 15_360  # a Colab T4's total as nvidia-smi prints it (ECC check bits already taken out)
T4_TORCH_GIB = 14.74  # what torch sees of it, ~15.83e9 bytes (the driver reserves the rest)


def emulating_t4() -> bool:
    """True when ``$WORKBOOK_EMULATE_T4`` asks to behave like a Colab T4."""
    return os.environ.get(EMULATE_ENV, "0") not in ("", "0")


def emulate_t4(device: int = 0) -> float:
    """Cap torch's memory on ``device`` to a T4's and switch off the attention kernels a T4 lacks; return the cap."""
    import torch

    total = torch.cuda.get_device_properties(device).total_memory
    cap = min(1.0, T4_TORCH_GIB * 2**30 / total)
    torch.cuda.set_per_process_memory_fraction(cap, device)
    torch.backends.cuda.enable_flash_sdp(False)  # flash attention needs compute capability >= 8.0
    if hasattr(torch.backends.cuda, "enable_cudnn_sdp"):
        torch.backends.cuda.enable_cudnn_sdp(False)
    return cap * total / 2**30


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
