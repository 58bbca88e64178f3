"""Trial: continue the shipped base on general text plus rows whose spans recur at every distance up to a page.

    OMP_NUM_THREADS=2 .venv/bin/python measurements/induction_trials/recall_trial.py --steps 300 --out r1.json

l1 (long_copy_trial.py) put one span pair in a 768-id row, so most of each row was unpredictable filler, and it
dropped stage 2's short copy rows: its reach grew slowly and the short-range copying fell. Here each step trains on
16 general-text rows of 512 tokens and 16 short copy rows of 128 ids (both as stage 2) plus ``--rows`` rows of
``--length`` from ``pretrain.recall_rows`` (about half of each row copies an earlier span, from anywhere before it):
a third uniform ids, a third ids as frequent as in the text, a third general text with its own spans spliced in
(``--kinds`` picks). Every 50 steps: note_copy_probe at windows 96, 256 and 512, copy_probe, held-out general loss.
"""

from __future__ import annotations

import argparse
import json
import random
import time

import torch
from long_copy_trial import probe_row  # the same readings as trial l1 (this folder is on sys.path when run)

from helpers import lm
from helpers.models import load_tiny_lm
from helpers.pretrain import TINY, copy_rows, general_corpus, lm_corpus, recall_rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--rows", type=int, default=9)
    p.add_argument("--length", type=int, default=768)
    p.add_argument("--kinds", default="uniform,frequent,text")
    p.add_argument("--probe-every", type=int, default=50)
    p.add_argument("--save", default=None, help="folder to save the continued model in")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    model, tok = load_tiny_lm(verbose=False)
    general = general_corpus(TINY)
    train = lm.pack_blocks(general["train"], tok, TINY.block_size)
    long_text = lm.pack_blocks(general["train"], tok, a.length)
    held_out = lm.pack_blocks(general["validation"], tok, TINY.block_size)[:8]
    notes = lm_corpus(TINY)["validation"][:16]
    vocab = len(tok)
    frequency = torch.bincount(train.flatten(), minlength=vocab)[1:].double().cumsum(0).tolist()
    rng, gen = random.Random(3), torch.Generator().manual_seed(3)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.98), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: lm.warmup_cosine(i, a.steps, 30))
    kinds = a.kinds.split(",")

    def probe(step: int) -> dict:
        return probe_row(model, tok, held_out, notes, step)

    rows_out, start = [probe(0)], time.time()
    model.train()
    for step in range(1, a.steps + 1):
        per = a.rows // len(kinds)
        parts = []
        for kind in kinds:
            if kind == "uniform":
                parts.append(recall_rows(rng, per, a.length, vocab - 1))
            elif kind == "frequent":
                parts.append(recall_rows(rng, per, a.length, vocab - 1, cum_weights=frequency))
            else:
                src = long_text[torch.randint(len(long_text), (per,), generator=gen)]
                parts.append(recall_rows(rng, per, a.length, vocab - 1, source=src))
        long_rows = torch.cat(parts)
        short = torch.cat([copy_rows(rng, 8, 128, vocab - 1, longest=40, widest=40),
                           copy_rows(rng, 8, 128, vocab - 1, longest=40, widest=40, cum_weights=frequency)])
        batch = train[torch.randint(len(train), (TINY.batch_size,), generator=gen)]
        loss = (model(input_ids=long_rows, labels=long_rows).loss + model(input_ids=short, labels=short).loss
                + model(input_ids=batch, labels=batch).loss)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        if step % a.probe_every == 0:
            rows_out.append(probe(step) | {"seconds": time.time() - start})
    json.dump({"settings": vars(a), "rows": rows_out}, open(a.out, "w"), indent=1)
    if a.save:
        model.save_pretrained(a.save)
        tok.save_pretrained(a.save)


if __name__ == "__main__":
    main()
