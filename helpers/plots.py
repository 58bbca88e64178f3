"""Plotting plumbing so that notebook cells show the idea, not matplotlib details (notebook 01 on)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
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


def train_val_curves(curves: dict[str, pd.DataFrame], title: str):
    """Loss against step: each frame has ``step`` and ``loss`` (training) and/or ``eval_loss`` (validation)."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for i, (name, frame) in enumerate(curves.items()):
        colour = f"C{i}"
        if "loss" in frame:
            ax.plot(frame["step"], frame["loss"], color=colour, alpha=0.6, label=f"{name}: training")
        if "eval_loss" in frame:
            ax.plot(frame["step"], frame["eval_loss"], "o--", color=colour, label=f"{name}: validation")
    ax.set_xlabel("optimisation step")
    ax.set_ylabel("cross-entropy on answer tokens")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def interval_bars(table: pd.DataFrame, title: str):
    """Horizontal bars of ``difference`` with ``low``-``high`` error bars per row, and a line at zero."""
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(table) + 1.2))
    diff = table["difference"]
    err = [diff - table["low"], table["high"] - diff]
    colours = ["#55a868" if low > 0 else "#c44e52" if high < 0 else "#8c8c8c"
               for low, high in zip(table["low"], table["high"], strict=True)]
    ax.barh(list(table.index)[::-1], diff[::-1], xerr=[e[::-1] for e in err], color=colours[::-1], capsize=3)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("difference (green: interval above 0, grey: includes 0, red: below 0)")
    ax.set_title(title)
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


def stacked_components(table: pd.DataFrame, gpu_gib: float, title: str, gpu_name: str = "T4"):
    """One stacked bar per setup (rows) of memory components (columns, GiB), with the GPU's size as a line."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    bottom = pd.Series(0.0, index=table.index)
    for column in table.columns:
        if table[column].sum() > 0:
            ax.bar(table.index, table[column], bottom=bottom, label=column)
            bottom += table[column]
    ax.axhline(gpu_gib, color="black", linestyle="--", label=f"{gpu_name}: {gpu_gib:g} GiB")
    for x, total in enumerate(bottom):
        ax.text(x, total, f"{total:.1f}", ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("GiB")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def peak_lines(curves: dict[str, pd.Series], gpu_gib: float, xlabel: str, title: str):
    """Estimated peak memory (GiB) against one setting, one line per configuration, with the GPU line."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, series in curves.items():
        ax.plot(series.index, series.values, marker="o", label=label)
    ax.axhline(gpu_gib, color="black", linestyle="--", label=f"GPU: {gpu_gib:g} GiB")
    ax.set_xscale("log", base=2)
    ticks = list(next(iter(curves.values())).index)
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("estimated peak (GiB)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def grouped_bars(table: pd.DataFrame, ylabel: str, title: str, chance: float | None = 0.5):
    """One group of bars per column (e.g. task), one bar per row (e.g. variant), with a chance line."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(table)
    x = np.arange(len(table.columns))
    for i, (name, row) in enumerate(table.iterrows()):
        ax.bar(x + (i - (len(table) - 1) / 2) * width, row.to_numpy(float), width, label=str(name))
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(x, table.columns)
    ax.set_ylabel(ylabel)
    ax.set_ylim(min(0.4, float(table.min().min()) - 0.05), min(1.0, float(table.max().max()) + 0.1))
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=2, loc="upper left")
    fig.tight_layout()
    return fig


def roc_curves(y_true, scores_by_name: dict, title: str):
    """ROC curves (scikit-learn's roc_curve) of several score vectors against the same binary labels."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, scores in scores_by_name.items():
        fpr, tpr, _ = roc_curve(y_true, scores)
        ax.plot(fpr, tpr, label=f"{name} (AUROC {roc_auc_score(y_true, scores):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def phase_change(probes: pd.DataFrame, title: str = "how the tiny base learned to copy"):
    """The build report's probe rows against step: copy ratios (left) next to the held-out general-text loss (right),
    with the stage boundaries marked (introduced in notebook 01)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    left.plot(probes["step"], probes["words_ratio"], "o-", ms=3, label="word lists (copy_probe)")
    left.plot(probes["step"], probes["note_ratio"], "s-", ms=3, label="note spans, within 96 tokens")
    if "note512_ratio" in probes:
        left.plot(probes["step"], probes["note512_ratio"], "^-", ms=3, label="note spans, within 512 tokens")
    left.axhline(1.0, color="grey", lw=0.8, ls=":")
    left.set_ylabel("second reading / first reading")
    left.set_ylim(0, 1.15)
    right.plot(probes["step"], probes["general_loss"], "o-", ms=3, color="C2")
    right.set_ylabel("held-out general-text loss (nats per token)")
    # a stage starts where the rows of the one before it end (the probes are taken every 50 steps)
    starts = [(probes.loc[probes["stage"] == before, "step"].max(), (probes["stage"] == stage).any())
              for before, stage in (("copy", "general"), ("general", "recall"))]
    for ax in (left, right):
        for (boundary, present), style in zip(starts, ("--", "-."), strict=True):
            if present:
                ax.axvline(boundary, color="black", lw=0.8, ls=style)
        ax.set_xlabel("build step (dashed: general text starts; dash-dot: stage 3)")
    left.legend(fontsize=8)
    left.set_title(title)
    right.set_title("while it learned the language")
    fig.tight_layout()
    return fig


class Formatted:
    """A DataFrame with number formats: a styled HTML table in a notebook, aligned plain text in a headless run
    (a pandas ``Styler`` has no plain-text form and prints as ``<pandas.io.formats.style.Styler at 0x...>``)."""

    def __init__(self, df: pd.DataFrame, formats: dict | None = None, default: str | None = None,
                 caption: str | None = None, wrap: bool = False, precision: int | None = None):
        self.df, self.caption, self.wrap = df, caption, wrap
        self.formats = {c: (formats or {}).get(c, default) for c in df.columns}
        self.precision = precision

    def _cell(self, column, value) -> str:
        if isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)):
            if self.formats[column]:
                return self.formats[column].format(value)
            if self.precision is not None and isinstance(value, float):
                return f"{value:.{self.precision}f}"
        return str(value)

    def text(self) -> pd.DataFrame:
        """Every cell as the string both forms show."""
        return pd.DataFrame({c: [self._cell(c, v) for v in self.df[c]] for c in self.df.columns}, index=self.df.index)

    def _repr_html_(self) -> str:
        styler = self.text().style.format(escape="html")  # a token such as <|endoftext|> is text, not a tag
        if self.wrap:
            styler = styler.set_properties(**{"text-align": "left", "white-space": "pre-wrap", "vertical-align": "top"})
        return (styler.set_caption(self.caption) if self.caption else styler).to_html()

    def __repr__(self) -> str:
        head = f"{self.caption}\n" if self.caption else ""
        if not self.wrap:
            return head + self.text().to_string()
        def lines(v: str) -> str:  # a run of blank lines (a model repeating line breaks) is written as \n
            return v.replace("\n", "\\n") if "\n\n\n" in v else v.replace("\n", "\n    ")

        rows = self.text()  # long texts: one block per row, every column on its own lines
        return head + "\n".join(f"[{i}]\n" + "\n".join(f"  {c}: {lines(v)}" for c, v in row.items())
                                for i, row in rows.iterrows())


def formatted(df: pd.DataFrame, formats: str | dict | None = None, **kwargs) -> Formatted:
    """``df`` to display in HTML and in plain text alike, its numbers in ``formats``: one format string for every
    column, or one per column (``default=`` for the rest; ``precision=`` digits for floats left without one)."""
    if isinstance(formats, str):
        return Formatted(df, None, default=formats, **kwargs)
    return Formatted(df, formats, **kwargs)
