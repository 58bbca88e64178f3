"""Tables that read the same in a notebook and in a headless run (helpers.plots.formatted)."""

import numpy as np
import pandas as pd

from helpers.plots import formatted


def _df():
    return pd.DataFrame({"share": [0.12345, 0.5], "token": ["<|endoftext|>", "two\nlines"],
                         "bytes": np.array([3000, 4])}, index=["r1", "r2"])


def test_plain_text_shows_the_formatted_numbers_not_a_styler():
    text = repr(formatted(_df(), {"share": "{:.1%}", "bytes": "{:,}"}, caption="cap"))
    assert "Styler" not in text and text.startswith("cap\n")
    assert "12.3%" in text and "3,000" in text and "0.12345" not in text


def test_html_escapes_text_and_keeps_the_caption():
    html = formatted(_df(), "{:.2f}", caption="cap")._repr_html_()
    assert "&lt;|endoftext|&gt;" in html and "<caption>cap</caption>" in html and "0.12" in html


def test_one_format_for_all_columns_a_default_and_a_precision():
    assert "12%" in repr(formatted(_df()[["share"]], "{:.0%}"))
    text = repr(formatted(_df(), {"share": "{:.1%}"}, default="{:,.0f}"))
    assert "12.3%" in text and "3,000" in text
    assert "0.1235" in repr(formatted(_df()[["share"]], precision=4))


def test_long_texts_wrap_one_block_per_row():
    text = repr(formatted(_df(), wrap=True))
    assert text.startswith("[r1]\n") and "  token: two\n    lines" in text
    assert "white-space: pre-wrap" in formatted(_df(), wrap=True)._repr_html_()


def test_a_run_of_blank_lines_is_written_as_escapes():
    text = repr(formatted(pd.DataFrame({"said": ["CO daily\n\n\n\n"]}), wrap=True))
    assert "CO daily\\n\\n\\n\\n" in text
