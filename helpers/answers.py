"""Answer held-out questions with a (fine-tuned) model and compare answers (introduced in notebook 03).

Greedy decoding of the workshop prompt, stopped at EOS or at a stop string; switching a peft
adapter off for the base model's answer; a side-by-side table of answers.
"""

from __future__ import annotations

import contextlib

import pandas as pd
import torch
from transformers import StoppingCriteriaList, StopStringCriteria

from .sft import prompts

STOP_STRINGS = ("\nQuestion:", "\nInstruct:", "[note start]", "\n\n")


def cut_at_stop(text: str, stops=STOP_STRINGS) -> str:
    """``text`` up to the first stop string (a model that has not learned EOS yet keeps talking)."""
    cut = min((text.find(s) for s in stops if s in text), default=len(text))
    return text[:cut].strip()


@torch.no_grad()
def answer(model, tokenizer, prompts: list[str], max_new_tokens: int = 128, batch_size: int = 8) -> list[str]:
    """Greedy answers to ``prompts``, batched with left padding, stopped at EOS or a stop string.

    Prompts of similar length share a batch (less padding), and a batch ends once every row has written EOS or a
    stop string (what follows one is cut anyway); the answers come back in the order of ``prompts``. Larger batches
    were slower on a CPU (8: 4.8 s, 32: 9.2 s for 64 prompts of notebook 03 on the tiny base). The stop strings'
    criterion is built once per call: ``generate(stop_strings=...)`` rebuilds it for every batch (0.18 s each with
    the tiny model's tokenizer, whose vocabulary order defeats transformers' cache).
    """
    model.eval()
    device = next(model.parameters()).device
    encoded = tokenizer(list(prompts), verbose=False)["input_ids"]  # once: for the order and for every batch
    order = sorted(range(len(prompts)), key=lambda j: len(encoded[j]))
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    outputs: list[str] = [""] * len(prompts)
    stop = StoppingCriteriaList([StopStringCriteria(tokenizer, list(STOP_STRINGS))])
    try:
        for i in range(0, len(order), batch_size):
            chunk = order[i:i + batch_size]
            batch = tokenizer.pad({"input_ids": [encoded[j] for j in chunk]}, return_tensors="pt").to(device)
            ids = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                                 stopping_criteria=stop)
            new = ids[:, batch["input_ids"].shape[1]:]
            for j, text in zip(chunk, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True):
                outputs[j] = cut_at_stop(text)
    finally:
        tokenizer.padding_side = side
    return outputs


def answer_table(model, tokenizer, df: pd.DataFrame, column: str, **kwargs) -> pd.DataFrame:
    """A copy of ``df`` (note, question, answer, task) with the model's answers in ``column``."""
    out = df.copy()
    out[column] = answer(model, tokenizer, prompts(df), **kwargs)
    return out


def adapter_off(model):
    """Context in which a peft model answers as its base model (a no-op for a plain model)."""
    return model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()


def one_per_task(df: pd.DataFrame, columns: list[str], tail: int = 160) -> pd.DataFrame:
    """The first held-out example of every task, in full: the end of its prompt, the reference and each answer.

    The first of each task, not the best: what you read is what the averages are made of.
    """
    first = df.groupby("task", sort=True).head(1).set_index("task")
    view = pd.DataFrame({"prompt (end)": ["... " + p[-tail:] for p in prompts(first)]}, index=first.index)
    view["reference"] = first["answer"]
    for column in columns:
        view[column] = first[column]
    return view


def show_full(view: pd.DataFrame):
    """A table that shows whole texts, wrapped and left-aligned (pandas would cut them at 50 characters)."""
    from .plots import formatted

    return formatted(view, wrap=True)
