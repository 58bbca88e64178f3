"""Show the learner the exact helpers code a notebook runs (used wherever a cell calls into ``helpers``)."""

from __future__ import annotations

import inspect
from pathlib import Path


def show_source(obj) -> None:
    """Display ``obj``'s source, headed by the file it lives in, so the notebook shows the code it runs."""
    from IPython.display import Code, display

    where = Path(inspect.getsourcefile(obj)).relative_to(Path(__file__).resolve().parents[1])
    display(Code(f"# {where}\n{inspect.getsource(obj)}", language="python"))
