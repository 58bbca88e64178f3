"""What each rank really holds under DDP, ZeRO-1 and FSDP full sharding, measured on CPU processes (notebook 06).

    torchrun --standalone --nproc_per_node 2 -m helpers.shard --out runs/shard

The Trainer cannot show this on a CPU: accelerate runs FSDP only on GPUs (on CPU it quietly wraps the model in
DDP instead), and DeepSpeed needs CUDA. torch itself shards on CPU with the gloo backend, so this script takes the
tiny Phi with notebook 03's LoRA adapters through two training steps three ways, with torch's own tools:

* ``replicated``: ``DistributedDataParallel``, every rank holds everything (DDP);
* ``zero1``: DDP with ``ZeroRedundancyOptimizer``, each rank keeps the AdamW states of its share of the tensors;
* ``zero3``: ``fully_shard`` (FSDP2) on every decoder layer and the root, as ``configs/accelerate/fsdp.yaml``
  wraps phi-2: weights, gradients and optimizer states are sharded DTensors, each rank stores its slice.

Rank 0 writes ``shard.json``: per strategy and rank, the bytes of frozen weights, LoRA weights, gradients and
optimizer states that rank stores, and both steps' losses (the same data, so every strategy must agree).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .measure import held
from .train_sft import check_world, exit_without_teardown, gathered, lora_keywords

STRATEGIES = ("replicated", "zero1", "zero3")


def lora_model(seed: int):
    """The tiny Phi with notebook 03's adapters (the LoraConfig keywords of ``train_sft``), seeded alike on every
    rank."""
    import torch
    from peft import LoraConfig, get_peft_model

    from .models import load_tiny_lm

    torch.manual_seed(seed)
    model, _ = load_tiny_lm(verbose=False)
    return get_peft_model(model, LoraConfig(**lora_keywords(16, 32, 0.0)))


def wrap(model, strategy: str, mesh):
    """(model, optimizer) for a strategy, with torch's data-parallel tools."""
    import torch
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.optim import ZeroRedundancyOptimizer
    from torch.nn.parallel import DistributedDataParallel

    if strategy == "zero3":
        for layer in model.get_base_model().get_decoder().layers:  # one unit per PhiDecoderLayer, as fsdp.yaml
            fully_shard(layer, mesh=mesh)
        fully_shard(model, mesh=mesh)  # the root: embeddings, final norm, lm_head
        return model, torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    ddp = DistributedDataParallel(model)
    trainable = [p for p in ddp.parameters() if p.requires_grad]
    if strategy == "zero1":
        return ddp, ZeroRedundancyOptimizer(trainable, optimizer_class=torch.optim.AdamW, lr=1e-3)
    return ddp, torch.optim.AdamW(trainable, lr=1e-3)


def run(strategy: str, batch, mesh, seed: int) -> dict:
    """Two steps on this rank's half of ``batch``; what the rank holds after the second backward and step."""
    import torch.distributed as dist

    rank, world = dist.get_rank(), dist.get_world_size()
    mine = batch[rank::world]
    model, optimizer = wrap(lora_model(seed), strategy, mesh)
    losses = []
    for _ in range(2):
        optimizer.zero_grad(set_to_none=True)
        loss = model(input_ids=mine, labels=mine).loss
        loss.backward()
        optimizer.step()
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append(float(mean) / world)
    return {"ranks": gathered(held(model, optimizer)), "losses": losses}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    from .runtime import WorkbookError

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world < 2:
        raise WorkbookError("helpers.shard compares what ranks hold: launch it with torchrun --nproc_per_node 2.")
    check_world(world, "cpu")
    dist.init_process_group("gloo")
    mesh = init_device_mesh("cpu", (world,))
    generator = torch.Generator().manual_seed(args.seed)
    batch = torch.randint(4, 4000, (2 * world, args.seq_len), generator=generator)  # the same on every rank
    report = {"world_size": world, "seq_len": args.seq_len,
              "strategies": {s: run(s, batch, mesh, args.seed) for s in STRATEGIES}}
    if dist.get_rank() == 0:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "shard.json").write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    from .runtime import WorkbookError

    try:
        main()
    except WorkbookError as err:
        raise SystemExit(str(err)) from None
    exit_without_teardown()  # gloo's teardown can abort or hang after the report is written (see there)
