"""Plotting plumbing so that notebook cells show the idea, not matplotlib details (notebook 01 on)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd


def bar_probabilities(table: pd.DataFrame, title: str):
    """Horizontal bars of a ``next_token_table``: most likely token on top."""
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(table) + 1))
    ax.barh(table["token"][::-1], table["probability"][::-1], color="#4c72b0")
    ax.set_xlabel("probability of being the next token")
    ax.set_title(title)
    for y, p in enumerate(table["probability"][::-1]):
        ax.text(p, y, f" {p:.3f}", va="center", fontsize=8)
    ax.set_xlim(0, min(1.0, table["probability"].max() * 1.25))
    fig.tight_layout()
    return fig


def loss_curve(losses: list[float], title: str = "training loss", smooth: int = 10):
    """Per-step loss with a moving average on top."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    series = pd.Series(losses, index=range(1, len(losses) + 1))
    ax.plot(series, alpha=0.35, label="per step")
    ax.plot(series.rolling(smooth, min_periods=1, center=True).mean(), label=f"moving average ({smooth} steps)")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats per token)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def compare_bars(values: dict[str, float], ylabel: str, title: str, log: bool = False):
    """A small bar chart of named values (e.g. token counts, perplexities), optionally on a log axis."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if log:
        ax.set_yscale("log")
    colours = ["#4c72b0", "#dd8452", "#55a868", "#c44e52"][: len(values)]
    bars = ax.bar(list(values), list(values.values()), color=colours)
    ax.bar_label(bars, fmt="%.4g")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def show_source(obj) -> None:
    """Display the source code of a helpers function, so the notebook shows the exact code it runs."""
    import inspect

    from IPython.display import Code, display

    display(Code(inspect.getsource(obj), language="python"))
