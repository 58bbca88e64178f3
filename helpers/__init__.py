"""Reusable code for the Clinical LLM Workbook notebooks.

Each module holds one concern; its docstring names the notebook that introduces it.
"""

from .record import previous_results, record
from .runtime import Runtime, WorkbookError, preflight

__all__ = ["Runtime", "WorkbookError", "preflight", "previous_results", "record"]
__version__ = "0.1.0"
