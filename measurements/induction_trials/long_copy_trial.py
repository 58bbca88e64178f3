"""Trial: continue the shipped base on general text plus copy rows whose two readings lie far apart.

    OMP_NUM_THREADS=2 .venv/bin/python measurements/induction_trials/long_copy_trial.py --steps 300 --out l1.json

The shipped base copies a span of a note it read 96 tokens earlier (note_copy_probe 0.32) but hardly one it read
up to 512 tokens earlier (0.94), and notebook 03's answers sit 300-600 tokens after the facts they copy. Each step
here: 16 general-text rows of 512 tokens (as stage 2) and ``--rows`` copy rows of ``--length`` ids in which spans of
4-40 ids are read twice with up to ``--widest`` ids between (half uniform ids, half as frequent as in the text).
Every 50 steps: note_copy_probe at windows 96, 256 and 512, copy_probe, and the held-out general loss.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time

import torch

from helpers import lm
from helpers.models import load_tiny_lm
from helpers.pretrain import TINY, copy_rows, general_corpus, lm_corpus


def probe_row(model, tok, held_out, notes, step: int) -> dict:
    """The trials' reading at ``step``: held-out general loss, copy_probe, note_copy_probe at windows 96/256/512."""
    row = {"step": step, "general_loss": math.log(lm.perplexity(model, held_out)),
           "words_ratio": lm.copy_ratio(lm.copy_probe(model, tok))}
    for w in (96, 256, 512):
        row[f"note{w}_ratio"] = lm.copy_ratio(lm.note_copy_probe(model, tok, notes, window=w))
    model.train()
    print(row, flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--length", type=int, default=768)
    p.add_argument("--widest", type=int, default=700)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    model, tok = load_tiny_lm()
    general = general_corpus(TINY)
    train = lm.pack_blocks(general["train"], tok, TINY.block_size)
    held_out = lm.pack_blocks(general["validation"], tok, TINY.block_size)[:8]
    notes = lm_corpus(TINY)["validation"][:16]
    vocab = len(tok)
    frequency = torch.bincount(train.flatten(), minlength=vocab)[1:].double().cumsum(0).tolist()
    rng, gen = random.Random(3), torch.Generator().manual_seed(3)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.98), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: lm.warmup_cosine(i, a.steps, 30))

    def probe(step: int) -> dict:
        return probe_row(model, tok, held_out, notes, step)

    rows_out, start = [probe(0)], time.time()
    model.train()
    for step in range(1, a.steps + 1):
        half = a.rows // 2
        rows = torch.cat([copy_rows(rng, half, a.length, vocab - 1, longest=40, widest=a.widest),
                          copy_rows(rng, a.rows - half, a.length, vocab - 1, longest=40, widest=a.widest,
                                    cum_weights=frequency)])
        batch = train[torch.randint(len(train), (TINY.batch_size,), generator=gen)]
        loss = model(input_ids=rows, labels=rows).loss + model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        if step % 50 == 0:
            rows_out.append(probe(step) | {"seconds": time.time() - start})
    json.dump({"settings": vars(a), "rows": rows_out}, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
