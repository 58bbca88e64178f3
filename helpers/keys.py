"""Secrets for the optional steps (the LLM judge, the Hub push), read without ever waiting for input (notebook 03).

A key comes from Colab's Secrets panel or an environment variable; never from a prompt, a cell or a file in git.
A "Run all" or headless run without it skips the step with one sentence that says where to set it.
"""

from __future__ import annotations

import os

from .runtime import on_colab


def _colab_secret(name: str) -> str | None:
    """The Colab secret ``name``, or None outside Colab or when it is missing or not shared with the notebook."""
    if not on_colab():
        return None
    try:
        from google.colab import userdata  # type: ignore[import-not-found]

        return userdata.get(name) or None
    except Exception:  # SecretNotFoundError, NotebookAccessError, TimeoutException, ...
        return None


def secret(name: str) -> str | None:
    """The secret ``name`` from Colab's Secrets panel, else the environment, else None; never prompts or prints."""
    for value in (_colab_secret(name), os.environ.get(name)):
        if value and value.strip():
            return value.strip()
    return None


def secret_hint(name: str) -> str:
    """Where to put the secret ``name`` on this machine, as a clause for a one-sentence message."""
    if on_colab():
        return (f"add a secret named {name} in Colab's Secrets panel (the key icon on the left) with Notebook "
                "access turned on, then run this cell again")
    return f"set the environment variable {name} before starting Jupyter, then run this cell again"
