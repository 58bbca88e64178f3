"""Interactive widgets, with a static fallback for headless runs (introduced in notebook 02)."""

from __future__ import annotations

import os

from .runtime import on_colab


def interactive_frontend() -> bool:
    """True in Colab or a Jupyter server session; False under papermill, nbval or a plain script."""
    return on_colab() or "JPY_SESSION_NAME" in os.environ


def calculator(draw, **controls) -> None:
    """Show ``draw(**values)`` under ipywidgets controls, or once with the defaults when headless.

    ``controls`` maps a keyword of ``draw`` to an ipywidgets control (its ``value`` is the default).
    """
    if not interactive_frontend():
        print("Headless run: drawing the chart for the default settings; open the notebook in Jupyter or "
              "Colab to use the controls.")
        draw(**{name: control.value for name, control in controls.items()})
        return
    import ipywidgets as widgets
    from IPython.display import display

    out = widgets.interactive_output(draw, controls)
    display(widgets.VBox([widgets.HBox(list(controls.values())[:3]), widgets.HBox(list(controls.values())[3:]), out]))


def comparer(model, tokenizer, notes, max_new_tokens: int = 96) -> None:
    """Pick a held-out note, type a question, see the base (adapter off) and adapter answers side by side."""
    if not interactive_frontend():
        print("Headless run: skipping the interactive comparer (open the notebook in Jupyter or Colab to try it).")
        return
    import html

    import ipywidgets as widgets
    from IPython.display import HTML, display

    from .answers import adapter_off, answer
    from .sft import prompt_of

    rows = notes.drop_duplicates("patient_id").head(30)
    pick = widgets.Dropdown(options=[(f"{r.patient_id}: {r.note[:60]!r}", i) for i, r in rows.iterrows()],
                            description="note", layout=widgets.Layout(width="95%"))
    question = widgets.Text(value=rows.iloc[0]["question"], description="question",
                            layout=widgets.Layout(width="95%"))
    button, out = widgets.Button(description="Answer"), widgets.Output()

    def run(_):
        prompt = [prompt_of(rows.loc[pick.value, "note"], question.value)]
        with adapter_off(model):
            base = answer(model, tokenizer, prompt, max_new_tokens)[0]
        tuned = answer(model, tokenizer, prompt, max_new_tokens)[0]
        out.clear_output()
        with out:
            display(HTML(f"<table><tr><th>base (adapter off)</th><th>with the adapter</th></tr><tr>"
                         f"<td>{html.escape(base)}</td><td>{html.escape(tuned)}</td></tr></table>"))

    button.on_click(run)
    display(widgets.VBox([pick, question, button, out]))
