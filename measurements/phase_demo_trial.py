"""Trial: how many steps notebook 01's from-scratch copying demo needs to pass its phase change, per seed and rate.

    OMP_NUM_THREADS=1 .venv/bin/python measurements/phase_demo_trial.py --steps 1500 --lr 1e-3 --seeds 0 1 2 --out x.json

The demo's code (notebook 01, section 5): a 2-layer, width-64 Phi on fresh rows of 32 ids from a pool of 64. Writes
the loss curve of each seed and the first step at which the mean of the last 50 losses is below 0.9 ln 64.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time

import torch

from helpers.models import load_tiny_lm
from helpers.pretrain import TinySettings, copy_rows, tiny_phi


class Vocab:
    """A stand-in tokenizer for a model of ``n`` ids (id 0 is EOS), for trials with a smaller vocabulary."""

    eos_token_id = 0

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--vocab", type=int, default=0, help="model vocabulary (0: the tiny tokenizer's 4,096)")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    _, tok = load_tiny_lm(verbose=False)
    small = TinySettings(hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128)
    out = {"settings": vars(a), "runs": {}}
    for seed in a.seeds:
        torch.manual_seed(seed)
        demo = tiny_phi(Vocab(a.vocab) if a.vocab else tok, small, seed=seed).train()
        opt = torch.optim.AdamW(demo.parameters(), lr=a.lr, betas=(0.9, 0.98), weight_decay=0.0)
        rng, losses, passed, start = random.Random(seed), [], None, time.time()
        for step in range(a.steps):
            rows = copy_rows(rng, n_rows=32, length=32, pool=64)
            loss = demo(input_ids=rows, labels=rows).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(demo.parameters(), 1.0)
            for group in opt.param_groups:
                group["lr"] = a.lr * min(1.0, (step + 1) / 100)
            opt.step()
            opt.zero_grad()
            losses.append(loss.item())
            if passed is None and step >= 50 and sum(losses[-50:]) / 50 < 0.9 * math.log(64):
                passed = step + 1
        out["runs"][seed] = {"passed_at": passed, "seconds": time.time() - start, "losses": losses}
        print(f"seed {seed} lr {a.lr}: passed at {passed}, {time.time() - start:.0f} s", flush=True)
    json.dump(out, open(a.out, "w"))


if __name__ == "__main__":
    main()
