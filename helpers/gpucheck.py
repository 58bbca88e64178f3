"""``python3 workbook.py gpu-check``: run the GPU track as a Colab T4 would, on any CUDA GPU, with no network.

It builds a randomly initialised checkpoint of phi-2's full shape (phi-2's config, the tiny model's tokenizer:
nothing is downloaded), a local CSV in the Asclepius schema, then executes notebooks 02-05 on the GPU track
with ``WORKBOOK_EMULATE_T4=1`` (fp16, torch memory capped to a T4's 14.74 GiB, no flash attention) and the
workshop's defaults, and writes one table: per notebook and phase, peak memory against notebook 02's estimate,
tokens per second, wall time and the share of padding tokens. Random weights make the answers noise; memory and
time are real. The tokens per second are the lent GPU's, not a T4's: emulation caps memory and precision, not speed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .memory import GIB
from .runner import ROOT, execute, series

NOTEBOOKS = ("02_gpu_memory_math", "03_lora_sft", "04_qlora_sft", "05_two_stage_classifier")


def phi2_shaped(vocab_size: int, eos_token_id: int, hidden_size: int | None = None, num_layers: int | None = None,
                seed: int = 0, device: str = "cpu", dtype=None):
    """A randomly initialised PhiForCausalLM with phi-2's configuration (its head size, rotary share, activation),
    optionally narrower and shallower: memory and time are phi-2's, the answers are noise."""
    import torch
    from transformers import PhiForCausalLM

    from .models import phi2_config

    config = phi2_config()
    if hidden_size is not None or vocab_size > config.vocab_size:  # full size keeps phi-2's 51,200 embeddings
        config.vocab_size = vocab_size
    config.bos_token_id = config.eos_token_id = eos_token_id
    if hidden_size is not None:
        heads = max(1, hidden_size // 80)  # phi-2's head size is 80
        config.hidden_size, config.num_attention_heads, config.num_key_value_heads = 80 * heads, heads, heads
        config.intermediate_size = 4 * config.hidden_size
    if num_layers is not None:
        config.num_hidden_layers = num_layers
    torch.manual_seed(seed)
    with torch.device(device):
        return PhiForCausalLM(config).to(dtype or torch.float32).eval()


def save_phi2_shaped(out_dir, hidden_size: int | None = None, num_layers: int | None = None,
                     device: str = "cpu", dtype=None) -> Path:
    """Save a phi-2-shaped random checkpoint with the tiny model's tokenizer into ``out_dir`` (no download)."""
    from transformers import AutoTokenizer

    from .models import load_tiny_dir, no_progress_bars

    tokenizer = AutoTokenizer.from_pretrained(load_tiny_dir())
    import torch

    model = phi2_shaped(len(tokenizer), tokenizer.eos_token_id, hidden_size, num_layers, device=device,
                        dtype=dtype or torch.float16)
    out_dir = Path(out_dir)
    with no_progress_bars():
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    return out_dir


def prepare(out: Path, n_notes: int = 3000) -> tuple[Path, Path]:
    """The phi-2-shaped random checkpoint and the Asclepius-schema CSV, built once into ``out``."""
    import torch

    from .data import load_notes

    model_dir, csv = out / "phi2-shaped-random", out / "asclepius-schema.csv"
    if not (model_dir / "config.json").exists():
        save_phi2_shaped(model_dir, device="cuda", dtype=torch.float16)
    if not csv.exists():
        notes = load_notes("synthetic", n_notes=n_notes)
        notes.rename(columns={"note": "patient"}).to_csv(csv, index=False)  # the Hub CSV's column names
    return model_dir, csv


def rows_of(name: str, r: dict, seconds: float) -> list[dict]:
    """Table rows (phase, measured GiB, estimated GiB, tokens/s, seconds) from one notebook's record."""
    def row(phase, measured=None, estimated=None, tps=None, secs=None, padding=None):
        return {"notebook": name, "phase": phase, "peak GiB": None if measured is None else measured / GIB,
                "estimate GiB": None if estimated is None else estimated / GIB, "tokens/s": tps, "seconds": secs,
                "padding": padding}

    rows = [row("whole notebook", secs=seconds)]
    if name.startswith("02") and r.get("gpu_check"):
        g = r["gpu_check"]
        rows.append(row("one LoRA step", g["measured GiB"] * GIB, g["estimated GiB"] * GIB))
    if name.startswith(("03", "04")) and "tokens_per_second" in r:
        rows.append(row("SFT training", r.get("memory_measured_bytes"), r.get("memory_estimate_bytes"),
                        r["tokens_per_second"], r.get("train_seconds"),
                        (r.get("padding_share") or {}).get("grouped by length")))
    if name.startswith("05") and "stage1_seconds" in r:
        rows.append(row("stage 1 (clinical LoRA)", r.get("stage1_measured_bytes"), r.get("stage1_estimate_bytes"),
                        r.get("stage1_tokens_per_second"), r["stage1_seconds"]))
        rows.append(row("stage 2 (all variants)", secs=r.get("stage2_seconds")))
    return rows


def table_markdown(rows: list[dict], gpu: str) -> str:
    """The measured table as Markdown, with how it was made."""
    head = ["notebook", "phase", "peak GiB", "estimate GiB", "tokens/s", "seconds", "padding"]
    fmt = {"peak GiB": "{:.2f}", "estimate GiB": "{:.2f}", "tokens/s": "{:,.0f}", "seconds": "{:,.0f}",
           "padding": "{:.0%}"}
    lines = [f"# GPU track under T4 emulation, measured on {gpu}", "",
             "Made by `python3 workbook.py gpu-check` (see `helpers/gpucheck.py`): a random phi-2-shaped checkpoint, "
             "the synthetic notes as an Asclepius-schema CSV, fp16, torch memory capped to 14.74 GiB, no flash "
             f"attention. Tokens/s are this {gpu}'s, not a T4's.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [("" if r[h] is None else fmt[h].format(r[h])) if h in fmt else str(r[h]) for h in head]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Check for CUDA, prepare the local model and data, run 02-05 under T4 emulation, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "gpu-check"), help="folder for everything it makes")
    parser.add_argument("--only", nargs="*", help="notebook names to run instead of 02-05")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu-check needs a CUDA GPU and none is visible: run it on a GPU machine (the CPU track and the "
              "test suite never need one).", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.update({"WORKBOOK_EMULATE_T4": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    model_dir, csv = prepare(out)
    rows, failed = [], []
    for nb in series():
        if nb.stem not in (args.only or NOTEBOOKS):
            continue
        print(f"[gpu-check] {nb.stem} on the GPU track under T4 emulation ...", flush=True)
        result = execute(nb, out, "gpu", parameters={"MODEL": str(model_dir), "DATA_SOURCE": str(csv)})
        print(f"[gpu-check]   {result['status']} in {result['seconds']} s {result['error'] or ''}", flush=True)
        failed += [nb.stem] if result["status"] != "pass" else []
        rows += rows_of(nb.stem, result["metrics"], result["seconds"])
    gpu = torch.cuda.get_device_name(0)
    (out / "gpu_check.json").write_text(json.dumps({"gpu": gpu, "failed": failed, "rows": rows}, indent=2))
    (out / "gpu_check.md").write_text(table_markdown(rows, gpu))
    print(table_markdown(rows, gpu))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
