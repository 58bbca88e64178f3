"""Which tokens of a training example carry a label (introduced in notebook 03).

With a prompt/completion dataset TRL sets the labels of the prompt to -100, so the loss only
counts the answer and the EOS that teaches the model to stop. Padding (here the same token as
EOS) is masked too. ``label_view`` shows one collated example the way the trainer sees it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

COLORS = {"prompt": "#e9ecef", "answer": "#b7e4c7", "eos": "#f4a261", "pad": "#ffffff"}
IGNORE = -100


def token_kinds(input_ids, labels, attention_mask, eos_id: int) -> list[str]:
    """'pad', 'prompt' (no label), 'eos' or 'answer' for each position of one collated example."""
    kinds = []
    for token, label, attended in zip(input_ids.tolist(), labels.tolist(), attention_mask.tolist(), strict=True):
        if not attended:
            kinds.append("pad")
        elif label == IGNORE:
            kinds.append("prompt")
        else:
            kinds.append("eos" if token == eos_id else "answer")
    return kinds


@dataclass
class LabelView:
    """Tokens of one example and their kind: colored HTML in Jupyter, a compact text elsewhere."""

    tokens: list[str]
    kinds: list[str]

    def counts(self) -> dict[str, int]:
        """Number of tokens of each kind."""
        return {kind: self.kinds.count(kind) for kind in COLORS}

    def _repr_html_(self) -> str:
        spans = "".join(f'<span title="{kind}" style="background:{COLORS[kind]};border:1px solid #ccc;'
                        f'margin:1px;white-space:pre-wrap">{html.escape(tok)}</span>'
                        for tok, kind in zip(self.tokens, self.kinds, strict=True))
        legend = " ".join(f'<span style="background:{c};border:1px solid #ccc;padding:0 4px">{k}: '
                          f'{self.counts()[k]}</span>' for k, c in COLORS.items())
        return f"<div style='font-family:monospace;font-size:11px;line-height:1.9'>{legend}<br>{spans}</div>"

    def __repr__(self) -> str:
        parts, i = [], 0
        while i < len(self.kinds):
            j = i
            while j < len(self.kinds) and self.kinds[j] == self.kinds[i]:
                j += 1
            run = self.tokens[i:j]
            if self.kinds[i] == "prompt":
                parts.append(f"[prompt, {j - i} tokens, no labels ... {''.join(run[-6:])!r}]")
            elif self.kinds[i] == "pad":
                parts.append(f"[pad x {j - i}, no labels]")
            else:
                parts.append(f"{self.kinds[i].upper()}: {''.join(run)!r}")
            i = j
        return "\n".join(parts)


def label_view(trainer, index: int = 0) -> LabelView:
    """Example ``index`` of the trainer's dataset, collated next to a longer one so that padding shows."""
    dataset = trainer.train_dataset
    lengths = [len(dataset[i]["input_ids"]) for i in range(min(len(dataset), 32))]
    partner = max(range(len(lengths)), key=lengths.__getitem__)
    batch = trainer.data_collator([dataset[index], dataset[partner]])
    tokenizer = trainer.processing_class
    ids = batch["input_ids"][0]
    kinds = token_kinds(ids, batch["labels"][0], batch["attention_mask"][0], tokenizer.eos_token_id)
    return LabelView([tokenizer.decode([t]) for t in ids.tolist()], kinds)
