"""Notebook 03's LoRA SFT as a script that runs unchanged on 1 process or under ``torchrun`` / ``accelerate launch``
on N processes (notebook 06 teaches it).

    python -m helpers.train_sft --out runs/sft-1                                   # one process
    torchrun --standalone --nproc_per_node 2 -m helpers.train_sft --out runs/sft-2  # two (gloo on CPU, NCCL on GPU)

It reads notebook 03's track defaults (``sft.TRACK_DEFAULTS``) and builds the same ``LoraConfig`` and ``SFTConfig``
keywords as notebook 03's cells (``tests/test_train_sft.py`` checks the names, and the few the script adds).
``--batch-size`` is per process, so the effective batch is batch size x accumulation x processes. Rank 0 saves
the adapter and writes ``report.json``: the world size the script saw, each step's loss as the ranks computed it
for the gradient (averaged over them), and tokens per second.

On CPU, ``use_cpu=True`` is what makes accelerate see the run as distributed (``MULTI_CPU``): without it each
process trains alone, no gradient is all-reduced, and the "two-process" run is two one-process runs.
``tests/test_train_sft.py`` launches two processes and checks that losses and adapter match one process.

Under ``accelerate launch --config_file configs/accelerate/<strategy>.yaml`` the strategy (DDP, FSDP, DeepSpeed
ZeRO-2/3) comes from the configuration; ``--qlora`` trains notebook 04's NF4 base instead. Before loading anything
the script checks what the libraries would refuse and says so in one sentence (``helpers.launch``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from . import launch, sft
from .measure import held as held_bytes
from .models import PHI2_TARGET_MODULES
from .runtime import WorkbookError


def lora_keywords(r: int, alpha: int, dropout: float) -> dict:
    """Notebook 03's LoraConfig keywords (section 5)."""
    return dict(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(PHI2_TARGET_MODULES), bias="none",
                task_type="CAUSAL_LM")


def fsdp_keywords(layer_class: str) -> dict:
    """The SFTConfig keywords of FSDP full sharding (FSDP2), as ``configs/accelerate/fsdp.yaml`` writes them."""
    return dict(fsdp=True, fsdp_config={
        "version": 2,                                   # FSDP2: torch's fully_shard, per-parameter DTensors
        "activation_checkpointing": True,               # FSDP's own: the Trainer's would all-gather twice
        "transformer_layer_cls_to_wrap": [layer_class],  # one FSDP unit per decoder layer, gathered one at a time
        "reshard_after_forward": True,                  # full shard (ZeRO-3): drop the gathered weights after use
        "state_dict_type": "SHARDED_STATE_DICT",        # checkpoints: one shard per rank (the adapter: see below)
    })


def bnb_keywords(rt, double_quant: bool = True, quant_storage: str = "uint8") -> dict:
    """Notebook 04's BitsAndBytesConfig keywords (section 3), and the storage dtype FSDP and ZeRO-3 need."""
    import torch

    return dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=double_quant,
                bnb_4bit_compute_dtype=rt.dtype, bnb_4bit_quant_storage=getattr(torch, quant_storage))


def sft_keywords(rt, out_dir, settings: dict, max_length: int, seed: int, world_size: int) -> dict:
    """Notebook 03's SFTConfig keywords (section 6), plus what more than one process needs."""
    fp16, bf16 = sft.precision_flags(rt)
    return dict(
        output_dir=str(out_dir), max_steps=settings["max_steps"], per_device_train_batch_size=settings["batch_size"],
        gradient_accumulation_steps=settings["grad_accum"], learning_rate=settings["lr"], lr_scheduler_type="cosine",
        warmup_steps=0.05, seed=seed, data_seed=seed, fp16=fp16, bf16=bf16,
        gradient_checkpointing=rt.device == "cuda", gradient_checkpointing_kwargs={"use_reentrant": False},
        optim=sft.optimizer_for(rt, quantized=False), dataloader_pin_memory=rt.device == "cuda",
        max_length=max_length, packing=False, completion_only_loss=True,
        # the same examples in every step however many processes share them (the sampler interleaves them)
        train_sampling_strategy="sequential", save_strategy="no", logging_steps=1,
        include_num_input_tokens_seen="non_padding", report_to="none", disable_tqdm=True,
        ddp_backend=("nccl" if rt.device == "cuda" else "gloo") if world_size > 1 else None,
        use_cpu=rt.device == "cpu",  # without it accelerate sees no distributed run on CPU, and nothing is all-reduced
    )


def check_world(world_size: int, device: str) -> None:
    """One sentence when more processes were launched than the machine has CPU cores or GPUs."""
    import torch

    have = torch.cuda.device_count() if device == "cuda" else (os.cpu_count() or 1)
    if world_size > have:
        what = "GPUs" if device == "cuda" else "CPU cores"
        raise WorkbookError(f"{world_size} processes but {have} {what}: launch with --nproc_per_node {have} or fewer.")


def gathered(mine: dict) -> list[dict]:
    """Every rank's ``mine``, in rank order (just ``[mine]`` when no process group is running)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [mine]
    every = [None] * dist.get_world_size()
    dist.all_gather_object(every, mine)
    return every


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="run folder: the adapter and report.json go here")
    parser.add_argument("--track", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--model", help="a save_pretrained folder or Hub id instead of the track's model")
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--batch-size", type=int, help="per process")
    parser.add_argument("--grad-accum", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--n-train", type=int)
    parser.add_argument("--max-note-chars", type=int)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--lora-alpha", type=int, default=32)
    parser.add_argument("--lora-dropout", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fsdp", metavar="LAYER_CLASS", help="FSDP full shard, one unit per LAYER_CLASS (GPUs)")
    parser.add_argument("--qlora", action="store_true", help="notebook 04's NF4 base instead of notebook 03's")
    args = parser.parse_args(argv)

    import torch
    import torch.distributed as dist
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from . import data
    from .models import load_lm
    from .runtime import detect, seed_everything

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rt = detect(args.track, args.model)
    check_world(world_size, rt.device)
    strategy = "fsdp" if args.fsdp else launch.strategy_from_env()
    if strategy in ("fsdp", "zero2", "zero3") and rt.device == "cpu":
        raise WorkbookError(f"{strategy} through accelerate needs GPUs (on CPU accelerate trains plain DDP instead): "
                            "on CPU, torchrun --nproc_per_node 2 -m helpers.shard shows torch's own sharding.")
    storage = launch.quant_storage_for(strategy, rt.precision) if args.qlora else None
    if args.qlora:
        launch.check_qlora(strategy, storage, sft.optimizer_for(rt, quantized=True))
    seed_everything(args.seed)
    settings = sft.track_settings(rt.track, max_steps=args.max_steps, batch_size=args.batch_size,
                                  grad_accum=args.grad_accum, lr=args.lr, n_train=args.n_train,
                                  max_note_chars=args.max_note_chars)
    out = Path(args.out)
    # the configuration before the model: under ZeRO-3 it is what lets from_pretrained build the model sharded
    keywords = sft_keywords(rt, out, settings, args.max_length, args.seed, world_size)
    if args.qlora:
        keywords["optim"] = sft.optimizer_for(rt, quantized=True)  # as notebook 04
    if args.fsdp:
        keywords.update(fsdp_keywords(args.fsdp))
    if strategy == "fsdp":  # FSDP checkpoints each unit itself; the Trainer's would all-gather twice in backward
        keywords["gradient_checkpointing"] = False
    config = SFTConfig(**keywords)
    if args.qlora:
        from transformers import BitsAndBytesConfig

        model, tokenizer = load_lm(rt, BitsAndBytesConfig(**bnb_keywords(rt, quant_storage=storage)),
                                   dtype=getattr(torch, storage) if storage != "uint8" else None)
    else:
        model, tokenizer = load_lm(rt)
    layer_class = args.fsdp or os.environ.get("FSDP_TRANSFORMER_CLS_TO_WRAP")
    if strategy == "fsdp" and layer_class:
        for name in layer_class.split(","):
            launch.check_layer_class(model, name.strip())
    kept = data.filter_by_chars(data.load_notes(data.source_for(rt.track, "auto")), settings["max_note_chars"])
    train_rows, _ = sft.train_test_rows(data.split_by_patient(kept, seed=args.seed), tokenizer, args.max_length,
                                        settings["n_train"], settings["n_test"], seed=args.seed)
    sft.score_answer_positions_only()

    class LossRecordingTrainer(SFTTrainer):
        """SFTTrainer that keeps each training step's loss as this rank computed it for the gradient."""

        step_losses: list[float] = []

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            if model.training:  # TRL has already scaled it by the process count when tokens are averaged over ranks
                self.step_losses.append(float((result[0] if return_outputs else result).detach()))
            return result

    trainer = LossRecordingTrainer(model=model, args=config,
                         train_dataset=sft.prompt_completion_dataset(train_rows, tokenizer), processing_class=tokenizer,
                         peft_config=LoraConfig(**lora_keywords(args.lora_r, args.lora_alpha, args.lora_dropout)))
    if args.qlora:
        sft.keep_trainable_fp32(trainer.model, rt.precision)  # notebook 04: TRL made the adapters bf16
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    per_step = torch.tensor(trainer.step_losses, dtype=torch.float64)
    if world_size > 1:  # the Trainer logs rank 0's own loss; here each step's loss is averaged over the ranks
        dist.all_reduce(per_step)
        per_step /= world_size
    report = {"world_size": trainer.args.world_size, "processes_launched": world_size, "strategy": strategy,
              "qlora": args.qlora,
              "steps": trainer.state.global_step, "losses": per_step.tolist(), "seconds": seconds,
              "tokens_seen": trainer.state.num_input_tokens_seen,  # non-padding, summed over the ranks
              "tokens_per_second": trainer.state.num_input_tokens_seen / seconds if seconds else 0.0,
              "effective_batch": settings["batch_size"] * settings["grad_accum"] * world_size}
    # after training (the Trainer has freed the gradients); DeepSpeed keeps its shards outside torch's tensors
    held = {} if strategy.startswith("zero") else held_bytes(trainer.model, trainer.optimizer)
    if rt.device == "cuda":
        held["CUDA peak"] = torch.cuda.max_memory_allocated()
    report["rank_bytes"] = gathered(held)
    if trainer.is_fsdp_enabled:  # checkpoints were sharded; the adapter is gathered whole, as PEFT's FSDP example does
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(str(out / "adapter"))  # on every rank: FSDP gathers the adapter, rank 0 writes it
    if trainer.args.process_index == 0:
        (out / "report.json").write_text(json.dumps(report, indent=1))
    return report


def exit_without_teardown() -> None:
    """End a rank of a distributed run once everything is written, skipping the interpreter's teardown.

    With torch 2.13 on CPU, tearing down the gloo process group that DDP's reducer still holds can abort in C++
    ("terminate called without an active exception") or deadlock (the group's destructor joins a worker thread
    that waits for the GIL the destructor holds). Both were seen here, after the report was written, and torchrun
    then failed or hung the whole run. So: wait for every rank, flush, and leave with os._exit(0).
    """
    import sys

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    try:
        main()
    except WorkbookError as err:
        raise SystemExit(str(err)) from None
    exit_without_teardown()
