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
