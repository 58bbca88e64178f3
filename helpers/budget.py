"""Rules of thumb, the largest batch that fits, time math and time predictions (introduced in notebook 02;
used by 03-05)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from .memory import GIB, Batch, Setup, as_model, estimate
from .runtime import EMULATE_ENV, T4_TORCH_GIB, WorkbookError

T4_FP16_TFLOPS = 65.0  # NVIDIA's T4 datasheet: peak fp16 tensor-core throughput (TFLOP/s)
# torch sees less on a Colab T4 (runtime.T4_TORCH_GIB = 14.74 GiB); the CUDA context then comes out of those
# (memory.CUDA_CONTEXT_BYTES is its allowance).
T4_UTILISATION = 0.3  # assumption: the fraction of the T4's fp16 peak a training run achieves (not measured)
QLORA_SLOWDOWN = 1.4  # assumption: QLoRA time / LoRA time at equal FLOPs (bitsandbytes dequantizes NF4 weights
#                       before every matmul, forward and backward); not measured on a T4
ASCLEPIUS_MEAN_TOKENS = 600  # assumption, not measured (no Asclepius data offline): phi-2 tokens per 03/04
#   training example. Notes under the 2,500-character filter are <= ~650 tokens; say ~450 on average, + ~35
#   instruction, ~20 question, ~90 answer and markers. Padding to a batch's longer example is not counted.
ADMISSION_NOTE_TOKENS = 260  # assumption: phi-2 tokens per synthetic admission note (05's stage 2): ~790
#   characters on average (longest ~1,160) at ~3.5 characters per token, plus padding to a batch's longest
STAGE1_BLOCK = 512  # tokens per stage-1 block in notebook 05 (lm.pack_blocks(..., 512))
SFT_MAX_LENGTH = 1024  # notebooks 03/04's MAX_LENGTH parameter
MEASUREMENTS = Path(__file__).resolve().parent.parent / "measurements" / "t4_tokens_per_second.json"
NOTEBOOKS = ("03_lora_sft", "04_qlora_sft", "05_two_stage_classifier")


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


def gpu_gib(rt) -> float:
    """GiB torch can use on this GPU (under T4 emulation, the cap); ``T4_TORCH_GIB`` without CUDA."""
    return rt.total_gib if rt.device == "cuda" else T4_TORCH_GIB


def gpu_gib_source(rt) -> str:
    """Where ``gpu_gib(rt)`` comes from, in words."""
    if rt.device != "cuda":
        return "runtime.T4_TORCH_GIB, what torch sees on a Colab T4 (no CUDA GPU here)"
    if rt.emulated_t4:
        return f"the cap ${EMULATE_ENV}=1 puts on torch on this {rt.gpu_name} (what torch sees on a Colab T4)"
    return f"what torch reports on this GPU ({rt.gpu_name}), torch.cuda.mem_get_info()"


def largest_batch(config, setup: Setup, seq_len: int, gpu_gib: float, checkpointing: bool, limit: int = 256,
                  lora_dropout: float = 0.05) -> int:
    """The largest batch size whose estimate fits ``gpu_gib`` (0 if not even one sequence fits)."""
    model, best = as_model(config), 0  # build the meta model once, not once per batch size
    for b in range(1, limit + 1):
        batch = Batch(batch_size=b, seq_len=seq_len, grad_checkpointing=checkpointing, lora_dropout=lora_dropout)
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


@functools.cache
def phi2_parameters() -> int:
    """phi-2's parameter count, read off its shipped config on the meta device."""
    from .memory import inventory
    from .models import phi2_config

    return inventory(phi2_config()).total


def workshop_settings(notebook: str) -> dict:
    """The GPU track's defaults of ``notebook`` (sft or classify ``TRACK_DEFAULTS["gpu"]``) and token assumptions."""
    if notebook in ("03_lora_sft", "04_qlora_sft"):
        from .sft import TRACK_DEFAULTS  # checkpointing: notebooks 03/04 turn it on for a GPU

        return {**TRACK_DEFAULTS["gpu"], "max_length": SFT_MAX_LENGTH, "mean_tokens": ASCLEPIUS_MEAN_TOKENS,
                "grad_checkpointing": True}
    if notebook == "05_two_stage_classifier":
        from .classify import TRACK_DEFAULTS, VARIANTS
        from .data import split_by_patient
        from .outcomes import TASKS

        test_share = split_by_patient.__defaults__[0][2]  # the held-out share of the notes
        return {**TRACK_DEFAULTS["gpu"], "variants": "".join(VARIANTS), "one_model_per_task": False,
                "n_tasks": len(TASKS), "n_test": round(test_share * TRACK_DEFAULTS["gpu"]["n_notes"]),
                "note_tokens": ADMISSION_NOTE_TOKENS}
    raise WorkbookError(f"notebook={notebook!r} has no training to predict: use one of {', '.join(NOTEBOOKS)}.")


def sft_parts(s: dict, n: int) -> dict[str, tuple[int, float]]:
    """(tokens, FLOPs) of notebook 03/04's run: steps x batch x accumulation examples of ``mean_tokens``."""
    tokens = s["max_steps"] * s["batch_size"] * s["grad_accum"] * min(s["mean_tokens"], s["max_length"])
    return {"training": (tokens, training_flops(n, tokens, "lora", s["grad_checkpointing"]))}


def classifier_parts(s: dict, n: int) -> dict[str, tuple[int, float]]:
    """(tokens, FLOPs) of notebook 05: stage-1 LoRA steps and perplexity, stage-2 variants and predictions.

    Head-only variants (no trainable adapter) backpropagate through the head alone: forward FLOPs only. With
    activation checkpointing (on for the GPU track) stage 1 and the adapted variants recompute one forward pass.
    """
    from .classify import VARIANTS

    stage1, ppl = s["stage1_steps"] * s["stage1_batch"] * STAGE1_BLOCK, 2 * 2 * 64 * STAGE1_BLOCK  # 2 sets, twice
    runs = len(s["variants"]) * (s["n_tasks"] if s["one_model_per_task"] else 1)
    note = min(s["note_tokens"], s["max_length"])
    per_run = s["epochs"] * s["n_train"] * note
    adapted = sum(VARIANTS[k].trainable != {"head"} for k in s["variants"]) / len(s["variants"])
    ckpt = s.get("checkpointing", True)
    return {"stage 1 training": (stage1, training_flops(n, stage1, "lora", ckpt)),
            "stage 1 perplexity": (ppl, 2 * n * ppl),
            "stage 2 training": (runs * per_run, ((4 + 2 * ckpt) * adapted + 2 * (1 - adapted)) * n * runs * per_run),
            "stage 2 prediction": (runs * s["n_test"] * note, 2 * n * runs * s["n_test"] * note)}


def measured_tokens_per_second(notebook: str, path: Path | None = None) -> float | None:
    """A T4's measured tokens/s for ``notebook`` from ``path`` (default ``MEASUREMENTS``), else None.

    The file maps a notebook to ``{"tokens_per_second": ..., "how": ...}``: the tokens this prediction counts
    (non-padding tokens, as notebooks 03/04 record them) divided by the measured training seconds on a T4.
    """
    path = Path(path or MEASUREMENTS)
    entry = json.loads(path.read_text()).get(notebook) if path.exists() else None
    return float(entry["tokens_per_second"]) if entry else None


def predicted_minutes(notebook: str, settings: dict | None = None, utilisation: float = T4_UTILISATION,
                      tokens_per_second: float | None = None) -> dict:
    """Minutes of ``notebook``'s training on a Colab T4: from FLOPs at ``utilisation`` ("estimated"), or from
    tokens / ``tokens_per_second`` (default: the measurements file) ("measured"); with parts and assumption."""
    s = {**workshop_settings(notebook), **(settings or {})}
    parts = (classifier_parts if notebook.startswith("05") else sft_parts)(s, phi2_parameters())
    tokens, flops = sum(t for t, _ in parts.values()), sum(f for _, f in parts.values())
    tps = tokens_per_second or measured_tokens_per_second(notebook)
    slowdown = QLORA_SLOWDOWN if notebook == "04_qlora_sft" and not tps else 1.0
    seconds = tokens / tps if tps else wall_time_seconds(flops, utilisation=utilisation) * slowdown
    assumption = (f"{s['note_tokens']} tokens per admission note (ADMISSION_NOTE_TOKENS)" if notebook.startswith("05")
                  else f"{s['mean_tokens']} tokens per example (ASCLEPIUS_MEAN_TOKENS)")
    if slowdown != 1.0:
        assumption += f"; QLoRA {slowdown}x slower than LoRA (QLORA_SLOWDOWN)"
    return {"notebook": notebook, "parts": parts, "tokens": tokens, "flops": flops, "minutes": seconds / 60,
            "utilisation": flops / seconds / (T4_FP16_TFLOPS * 1e12) if tps else utilisation, "slowdown": slowdown,
            "tokens_per_second": tps, "basis": "measured" if tps else "estimated", "assumption": assumption,
            "settings": s}


def time_line(notebook: str, rt, settings: dict | None = None) -> str:
    """The line ``announce_time`` prints: the T4 prediction on the GPU track, a plain caveat on the CPU track."""
    if rt.track != "gpu":
        return ("CPU track: the training time depends on this machine (CPUs of one kind differ 3-5x); this "
                "notebook prints its measured tokens per second. Notebook 02 predicts the GPU track's time on a T4.")
    p = predicted_minutes(notebook, settings)
    how = (f"from a measured T4 throughput of {p['tokens_per_second']:,.0f} tokens/s, {MEASUREMENTS.name}"
           if p["basis"] == "measured" else
           f"estimated from notebook 02's FLOP count at {p['utilisation']:.0%} utilisation; not yet measured on a T4")
    other = "" if "T4" in (rt.gpu_name or "") else f" This GPU is {rt.gpu_name}: expect a different time."
    return f"Predicted training time on a Colab T4: about {max(1, round(p['minutes']))} min ({how}).{other}"


def announce_time(notebook: str, rt, settings: dict | None = None) -> None:
    """Print ``time_line(...)``: one line at the start of notebooks 03-05 (introduced in notebook 02)."""
    print(time_line(notebook, rt, settings))


def gib(n_bytes: float) -> float:
    """Bytes to GiB."""
    return n_bytes / GIB


