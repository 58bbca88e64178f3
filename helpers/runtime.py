"""Where am I running, which track, which precision (introduced in notebook 01, used by all).

The workbook has two tracks that share one code path:

* ``gpu``: microsoft/phi-2 and the Asclepius data from the Hugging Face Hub, on a CUDA GPU.
* ``cpu``: a tiny model of the same Phi architecture and bundled synthetic notes, fully offline.

``preflight()`` picks the track, seeds everything and prints a banner saying what it chose and why.
"""

from __future__ import annotations

import os
import random
import socket
import sys
from dataclasses import dataclass

TRACKS = ("auto", "cpu", "gpu")
HUB_HOST = "huggingface.co"
TRACK_ENV = "WORKBOOK_TRACK"  # overrides TRACK="auto" (the test suite runs nbval on the CPU track with it)
PRECISION_ENV = "WORKBOOK_PRECISION"  # forces fp16/bf16/fp32 (the tests run the GPU track's fp16 settings on a CPU)
PHI2 = "microsoft/phi-2"
TINY_MODEL = "tiny"


# T4 emulation: WORKBOOK_EMULATE_T4=1 makes any CUDA GPU behave like a Colab T4 for memory and precision: fp16
# whatever the compute capability, torch's memory capped to what a T4 gives torch, and only the attention kernels a
# T4 has (PyTorch's flash kernel needs compute capability 8.0; a T4 runs the memory-efficient or the math kernel).
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


class WorkbookError(Exception):
    """A mistake a learner can fix: the message is one sentence that says what to change."""


@dataclass(frozen=True)
class Runtime:
    """What preflight() decided: the track, the device and the precision, and why."""

    track: str
    reason: str
    device: str
    precision: str
    on_colab: bool
    gpu_name: str | None = None
    capability: tuple[int, int] | None = None
    total_gib: float | None = None
    free_gib: float | None = None
    model: str = TINY_MODEL  # a Hub id, a local folder, or TINY_MODEL (the CPU track's cached tiny Phi)
    emulated_t4: bool = False
    precision_note: str = ""

    @property
    def local_model(self) -> bool:
        """True when the model comes from this machine (the tiny model or a folder), not from the Hub."""
        return self.model == TINY_MODEL or is_folder(self.model)

    @property
    def dtype(self):
        """The torch dtype that matches ``precision``."""
        import torch

        return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[self.precision]


def on_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def precision_for(capability: tuple[int, int] | None) -> str:
    """fp32 on CPU (None), fp16 below compute capability 8.0 (T4 = 7.5), bf16 from 8.0 (A100, H100).

    We decide by compute capability, not ``torch.cuda.is_bf16_supported()``: that can say True on a
    T4, where bf16 is only emulated and slow.
    """
    if capability is None:
        return "fp32"
    return "bf16" if tuple(capability) >= (8, 0) else "fp16"


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when the Hugging Face Hub answers on port 443 and offline mode is not set."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") or os.environ.get("TRANSFORMERS_OFFLINE") == "1":
        return False
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def select_track(requested: str = "auto", *, cuda: bool, hub: bool | None = None) -> tuple[str, str]:
    """Return (track, reason). ``auto`` = gpu on a CUDA GPU with Hub access, else cpu.

    ``hub`` is only consulted for ``auto`` on a CUDA machine; pass it to avoid the network check.
    """
    choice = str(requested).strip().lower()
    if choice not in TRACKS:
        raise WorkbookError(f"TRACK={requested!r} is not a track: set TRACK to one of {', '.join(TRACKS)}.")
    if choice == "gpu":
        if not cuda:
            raise WorkbookError(
                "TRACK='gpu' needs a CUDA GPU and none is visible: on Colab pick Runtime > Change runtime "
                "type > T4 GPU, or set TRACK='cpu' (or 'auto') to use the offline CPU track."
            )
        return "gpu", "TRACK='gpu' was requested and a CUDA GPU is visible"
    if choice == "cpu":
        return "cpu", "TRACK='cpu' was requested"
    if not cuda:
        return "cpu", "TRACK='auto' and no CUDA GPU is visible"
    if hub is None:
        hub = hub_reachable()
    if not hub:
        return "cpu", "TRACK='auto' found a GPU but the Hugging Face Hub is unreachable"
    return "gpu", "TRACK='auto' found a CUDA GPU and the Hugging Face Hub"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so that runs repeat."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _gpu_facts() -> dict:
    """Name, compute capability and total/free memory (GiB) of CUDA device 0."""
    import torch

    free, total = torch.cuda.mem_get_info(0)
    return {
        "gpu_name": torch.cuda.get_device_name(0),
        "capability": tuple(torch.cuda.get_device_capability(0)),
        "total_gib": total / 2**30,
        "free_gib": free / 2**30,
    }


def _ram_gib() -> tuple[float, float]:
    """Total and available system memory in GiB (psutil if present, else /proc/meminfo)."""
    try:
        import psutil

        vm = psutil.virtual_memory()
        return vm.total / 2**30, vm.available / 2**30
    except ImportError:  # pragma: no cover - psutil ships with ipykernel
        info = dict(line.split(":", 1) for line in open("/proc/meminfo"))
        kib = lambda key: float(info[key].split()[0]) / 2**20  # noqa: E731
        return kib("MemTotal"), kib("MemAvailable")


def is_folder(model: str | None) -> bool:
    """True when ``model`` names a folder on this machine (``~`` expanded)."""
    return model is not None and os.path.isdir(os.path.expanduser(str(model).strip()))


def resolve_model(track: str, model: str | None) -> str:
    """``MODEL=None`` means the track's model (phi-2 on GPU, the tiny Phi on CPU); a folder or a Hub id otherwise."""
    if model is None or str(model).strip() == "":
        return PHI2 if track == "gpu" else TINY_MODEL
    model = str(model).strip()
    if is_folder(model):
        return os.path.expanduser(model)
    if track == "cpu" and model != TINY_MODEL:
        raise WorkbookError(f"MODEL={model!r} is not a local folder and the CPU track never downloads: set MODEL "
                            "to None or to a folder saved with save_pretrained.")
    return model


def _precision(capability: tuple[int, int] | None, emulated: bool) -> tuple[str, str]:
    """The precision and why: the compute-capability rule, T4 emulation, or ``$WORKBOOK_PRECISION``."""
    forced = os.environ.get(PRECISION_ENV, "").strip().lower()
    if forced:
        if forced not in ("fp16", "bf16", "fp32"):
            raise WorkbookError(f"${PRECISION_ENV}={forced!r}: use fp16, bf16 or fp32 (or unset it).")
        return forced, f"forced by ${PRECISION_ENV}, as the test suite does to run the GPU settings on a CPU"
    if emulated:
        return "fp16", "emulating a T4, which has no bf16"
    if capability is None:
        return "fp32", "fp32 because this is the CPU track"
    rule = "below" if tuple(capability) < (8, 0) else "at least"
    return precision_for(capability), f"compute capability is {rule} 8.0"


def detect(track: str = "auto", model: str | None = None) -> Runtime:
    """Decide track, device, precision and model for this machine without printing anything."""
    import torch

    cuda = torch.cuda.is_available()
    forced = os.environ.get(TRACK_ENV) if str(track).strip().lower() == "auto" else None
    chosen, reason = select_track(forced or track, cuda=cuda, hub=True if is_folder(model) else None)
    if forced:
        reason += f" (TRACK='auto' overridden by ${TRACK_ENV}, as the test suite does)"
    name = resolve_model(chosen, model)
    if chosen == "gpu":
        emulated = emulating_t4()
        cap_gib = emulate_t4() if emulated else None
        facts = _gpu_facts()
        if cap_gib is not None:
            facts["free_gib"] = min(facts["free_gib"], cap_gib - torch.cuda.memory_reserved(0) / 2**30)
            facts["total_gib"] = cap_gib
        precision, why = _precision(facts["capability"], emulated)
        return Runtime(chosen, reason, "cuda", precision, on_colab(), **facts, model=name, emulated_t4=emulated,
                       precision_note=why)
    total, free = _ram_gib()
    precision, why = _precision(None, False)
    return Runtime(chosen, reason, "cpu", precision, on_colab(), total_gib=total, free_gib=free, model=name,
                   precision_note=why)


def banner(rt: Runtime) -> str:
    """The preflight banner as text: one fact per line."""
    import torch

    where = "Google Colab" if rt.on_colab else "local machine"
    if rt.device == "cuda":
        hw = f"GPU {rt.gpu_name}, compute capability {rt.capability[0]}.{rt.capability[1]}"
        mem = f"GPU memory {rt.free_gib:.1f} GiB free of {rt.total_gib:.1f} GiB (as torch sees it)"
        data = "starmpcc/Asclepius-Synthetic-Clinical-Notes (Hub), or the CSV in DATA_SOURCE"
    else:
        hw = f"CPU, {os.cpu_count()} cores, torch {torch.__version__}"
        mem = f"RAM {rt.free_gib:.1f} GiB free of {rt.total_gib:.1f} GiB"
        data = "bundled synthetic clinical notes (offline), or the CSV in DATA_SOURCE"
    if rt.model == TINY_MODEL:
        model = "tiny Phi-architecture model, pretrained on general-domain text only (shipped weights)"
    else:
        model = f"{rt.model} ({'local folder' if rt.local_model else 'Hugging Face Hub'})"
    lines = [
        f"Track     : {rt.track.upper()}  ({rt.reason})",
        f"Running on: {where}; {hw}",
        f"Memory    : {mem}",
        f"Precision : {rt.precision}  ({rt.precision_note})",
        f"Model     : {model}",
        f"Data      : {data}",
    ]
    if rt.emulated_t4:
        lines.insert(1, "Emulating : a Colab T4 ($WORKBOOK_EMULATE_T4=1): fp16, torch memory capped to "
                        f"{rt.total_gib:.2f} GiB, no flash attention")
    width = max(len(line) for line in lines)
    rule = "=" * width
    return "\n".join([rule, *lines, rule])


def _short_errors() -> None:
    """In IPython, show a WorkbookError as its one sentence instead of a long traceback."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return
    shell = get_ipython()
    if shell is None:
        return

    def handler(shell, etype, value, tb, tb_offset=None):
        # The exception line only, no stack, but still sent as the cell's error: a kernel reports it as an error
        # message, so nbval and papermill see the cell fail (a plain print would let "Run all" and nbval go on).
        shell._showtraceback(etype, value, [f"WorkbookError: {value}"])  # ipykernel sends this as "error"

    shell.set_custom_exc((WorkbookError,), handler)


def _quiet_library_noise() -> None:
    """Silence two messages that say nothing to a learner: a transformers deprecation notice raised inside
    peft, and bitsandbytes' note that an optional hub-downloaded CPU kernel is not installed."""
    import logging
    import warnings

    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    try:  # per-example progress bars of dataset.map (TRL's tokenization): noise on small sets
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()
    except ImportError:
        pass


def preflight(track: str = "auto", seed: int = 0, model: str | None = None) -> Runtime:
    """Pick the track and model, seed everything, print the banner and return the Runtime."""
    _short_errors()
    _quiet_library_noise()
    rt = detect(track, model)
    seed_everything(seed)
    print(banner(rt))
    return rt


def choose(defaults: dict, track: str, **chosen) -> dict:
    """``defaults[track]``, overridden by every setting in ``chosen`` that is not None (None means "track default")."""
    return {**defaults[track], **{k: v for k, v in chosen.items() if v is not None}}
