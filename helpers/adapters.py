"""Save, reload, merge and share a LoRA adapter (introduced in notebook 03, reused in 04).

An adapter is a few MB: ``adapter_model.safetensors`` plus ``adapter_config.json``, and a model
card we write ourselves. It goes back onto a *fresh* base model; merging it into the weights
gives an ordinary model, but only into float weights (merging into 4-bit weights degrades them).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .data import connection_failed, error_line, http_status
from .keys import secret, secret_hint
from .runtime import WorkbookError

HF_TOKEN = "HF_TOKEN"  # the Colab secret or environment variable push_adapter reads

CARD = """---
base_model: {base_model}
library_name: peft
tags: [lora, clinical, teaching, not-for-clinical-use]
---
# {title}

A LoRA adapter trained in the Clinical LLM Workbook ({notebook}). **Not for clinical use**: it is a
teaching artefact, trained for minutes on synthetic notes, and it makes mistakes that look plausible.

- Base model: `{base_model}`
- Data: {data}
- Method: {method}

## Settings
{settings}

## Held-out results (patients never seen in training)
{metrics}
"""


def model_card(title: str, notebook: str, base_model: str, data: str, method: str, settings: dict,
               metrics: dict) -> str:
    """A model card in Markdown: base model, data, settings, held-out metrics and 'not for clinical use'."""
    def bullets(d: dict) -> str:
        return "\n".join(f"- {k}: {round(v, 4) if isinstance(v, float) else v}" for k, v in d.items())

    return CARD.format(title=title, notebook=notebook, base_model=base_model, data=data, method=method,
                       settings=bullets(settings), metrics=bullets(metrics))


def save_adapter(model, path, card: str) -> list[str]:
    """Save the adapter weights and config to ``path`` with ``card`` as its README; return the file names."""
    path = Path(path)
    model.save_pretrained(path)
    (path / "README.md").write_text(card)
    return adapter_files(path)


def adapter_files(path) -> list[str]:
    """The names of the files in a saved adapter folder (peft's format: config JSON, safetensors weights)."""
    return sorted(p.name for p in Path(path).iterdir())


def adapter_config(path) -> dict:
    """The saved ``adapter_config.json`` as a dict."""
    return json.loads((Path(path) / "adapter_config.json").read_text())


def reload_adapter(base_model, path):
    """A fresh base model with the saved adapter from ``path`` on top, ready for inference."""
    from peft import PeftModel

    if not (Path(path) / "adapter_config.json").exists():
        raise WorkbookError(f"No adapter in {path}: run the training and saving cells first.")
    return PeftModel.from_pretrained(base_model, str(path)).eval()


def merge(peft_model):
    """The adapter folded into the base weights: a plain transformers model (float weights only)."""
    quantized = any(type(m).__name__ in ("Linear4bit", "Linear8bitLt") for m in peft_model.modules())
    if quantized:
        raise WorkbookError("This base model is quantized: reload the adapter onto an fp16/fp32 base and merge that "
                            "(merging into 4-bit weights degrades the model).")
    return peft_model.merge_and_unload().eval()


@torch.no_grad()
def max_logit_gap(model_a, model_b, input_ids) -> float:
    """The largest absolute difference between two models' logits on ``input_ids``."""
    gap = model_a(input_ids=input_ids).logits.float() - model_b(input_ids=input_ids).logits.float()
    return gap.abs().max().item()


def _hub_token() -> str | None:
    """HF_TOKEN from a Colab secret or the environment, else the token a ``hf auth login`` saved; never prompts."""
    try:
        from huggingface_hub import get_token

        return secret(HF_TOKEN) or get_token()
    except Exception:  # an unreadable token file, a failed OAuth refresh, ...
        return secret(HF_TOKEN)


def _push_error(err: Exception, repo_id: str) -> str:
    """One sentence for a failed push: rejected token, someone else's namespace, bad id, offline, or unknown."""
    status = http_status(err)
    if status == 401:
        return (f"The Hub rejected the Hugging Face token (HTTP 401): store a valid token with write access as "
                f"{HF_TOKEN} (https://huggingface.co/settings/tokens), or set PUSH_TO_HUB=False.")
    if status == 403:
        return (f"The token may not write to {repo_id} (HTTP 403): set HUB_REPO to 'your-user-name/a-name' in your "
                "own namespace and use a token with write access, or set PUSH_TO_HUB=False.")
    if connection_failed(err):
        return (f"Could not reach the Hugging Face Hub ({type(err).__name__}): check the internet connection, or set "
                "PUSH_TO_HUB=False.")
    if isinstance(err, ValueError) and status is None:
        return (f"HUB_REPO={repo_id!r} is not a valid repository id: use 'user-name/a-name' with letters, digits, "
                "'-', '_' or '.'.")
    return f"Pushing to {repo_id} failed ({error_line(err)}): run this cell again, or set PUSH_TO_HUB=False."


def push_adapter(path, repo_id: str, token: str | None = None) -> str:
    """Upload the saved adapter folder (card included) to a private Hub repository (token: HF_TOKEN); return its URL."""
    from huggingface_hub import create_repo, upload_folder

    if not (Path(path) / "adapter_config.json").exists():
        raise WorkbookError(f"No adapter in {path}: run the training and saving cells first.")
    token = token or _hub_token()
    if not token:
        raise WorkbookError(f"Pushing to the Hub needs a Hugging Face token with write access and no {HF_TOKEN} was "
                            f"found: {secret_hint(HF_TOKEN)}, or set PUSH_TO_HUB=False.")
    try:
        create_repo(repo_id, private=True, exist_ok=True, token=token)
        upload_folder(folder_path=str(path), repo_id=repo_id, token=token)
    except Exception as err:  # never let a library message (or the token) through
        raise WorkbookError(_push_error(err, repo_id).replace(token, "***")) from None
    return f"https://huggingface.co/{repo_id}"
