"""One measured trial of notebook 03's LoRA SFT on the CPU track, scored on the held-out questions.

    .venv/bin/python measurements/sft_trial.py --lr 5e-3 --steps 160 --max-note-chars 2000 --out trial.json

The same data, prompt, LoraConfig and SFTConfig as notebook 03 (section 6), with the knobs as arguments; it
writes the per-task token F1 of the fine-tuned model with 95% intervals and a few answers next to their reference.
measurements/sft_trials.md lists the trials that chose notebook 03's CPU defaults.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from helpers import answers, data, metrics, preflight, sft, stats
from helpers.models import load_lm

EXTRACTION = ("Abbreviation Expansion", "Temporal Information Extraction", "Named Entity Recognition")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--steps", type=int, default=160)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--r", type=int, default=16)
    p.add_argument("--alpha", type=int, default=32)
    p.add_argument("--n-train", type=int, default=800)
    p.add_argument("--n-test", type=int, default=160)
    p.add_argument("--max-note-chars", type=int, default=2000)
    p.add_argument("--scheduler", default="cosine", help="SFTConfig.lr_scheduler_type")
    p.add_argument("--only-extraction", action="store_true")
    p.add_argument("--base", default=None, help="a save_pretrained folder to fine-tune instead of the shipped base")
    p.add_argument("--out", required=True)
    a = p.parse_args()

    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    rt = preflight("cpu", seed=0, model=a.base)
    rows = data.filter_by_chars(data.load_notes("synthetic"), max_note_chars=a.max_note_chars)
    splits = data.split_by_patient(rows, seed=0)
    model, tokenizer = load_lm(rt)
    train_rows, test_rows = sft.train_test_rows(splits, tokenizer, 1024, a.n_train, a.n_test, seed=0)
    if a.only_extraction:
        test_rows = test_rows[test_rows.task.isin(EXTRACTION)]
    peft_config = LoraConfig(r=a.r, lora_alpha=a.alpha, lora_dropout=0.05, bias="none", task_type="CAUSAL_LM",
                             target_modules=["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"])
    args = SFTConfig(output_dir=f"/tmp/sft_trial_{time.time_ns()}", max_steps=a.steps,
                     per_device_train_batch_size=a.batch, learning_rate=a.lr, lr_scheduler_type=a.scheduler,
                     warmup_steps=0.05, seed=0, data_seed=0, max_length=1024, packing=False,
                     completion_only_loss=True, train_sampling_strategy="group_by_length", save_strategy="no",
                     logging_steps=5, report_to="none", include_num_input_tokens_seen="non_padding",
                     dataloader_pin_memory=False, fp16=False, bf16=False)
    sft.score_answer_positions_only()
    trainer = SFTTrainer(model=model, args=args, train_dataset=sft.prompt_completion_dataset(train_rows, tokenizer),
                         processing_class=tokenizer, peft_config=peft_config)
    with sft.timed_run(trainer, None) as run:
        trainer.train()
    start = time.time()
    base = test_rows.assign(base="")  # the base's answers are not needed for the fine-tuned model's F1
    table = answers.answer_table(trainer.model, tokenizer, base, "fine-tuned", max_new_tokens=64)
    gen_seconds = time.time() - start
    scored = metrics.score_answers(table, "fine-tuned")
    per_task = {}
    for task, group in scored.groupby("task"):
        f1 = group["token_f1"].to_numpy()
        ci = stats.bootstrap(lambda idx, f1=f1: float(np.mean(f1[idx])), len(f1), seed=0)
        low, high = ci.low, ci.high
        per_task[task] = {"f1": group["token_f1"].mean(), "low": low, "high": high, "n": len(group),
                          "exact": group["exact_match"].mean()}
    examples = {task: group.head(4)[["question", "answer", "fine-tuned"]].to_dict(orient="records")
                for task, group in table.groupby("task") if task in EXTRACTION}
    result = {"settings": vars(a), "train_seconds": run["seconds"], "tokens_per_second": run["tokens_per_second"],
              "generate_seconds": gen_seconds, "final_loss": trainer.state.log_history[-2].get("loss"),
              "per_task": per_task, "examples": examples}
    json.dump(result, open(a.out, "w"), indent=1)
    for task, row in per_task.items():
        print(f"{task:34s} F1 {row['f1']:.3f} [{row['low']:.3f}, {row['high']:.3f}] n={row['n']} exact {row['exact']:.2f}")
    print(f"train {run['seconds']:.0f} s at {run['tokens_per_second']:,.0f} tokens/s; generate {gen_seconds:.0f} s")


if __name__ == "__main__":
    main()
