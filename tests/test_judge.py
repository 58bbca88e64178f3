"""The LLM-as-judge: reply parsing, API key lookup, the HTTP client and the pairwise swap, all offline."""

from __future__ import annotations

import builtins
import getpass
import io
import json
import sys
import urllib.error
import urllib.request

import pandas as pd
import pytest

from helpers import judge
from helpers.judge import (
    PAIRWISE_PROMPT,
    POINTWISE_PROMPT,
    JudgeClient,
    api_key,
    judge_or_skip,
    judge_pairwise,
    judge_pointwise,
    parse_pairwise,
    parse_pointwise,
)
from helpers.runtime import WorkbookError

SECRET = "sk-test-SECRET-1234567890"


@pytest.mark.parametrize("reply, expected", [
    ("The answer is complete.\nScore: 4", 4),
    ("Reasoning...\n**Score:** 3", 3),
    ("**Score**: 2", 2),
    ("Score: 3/4", 3),
    ("score = 4", 4),
    ("SCORE: 1.", 1),
    ("Score: 3 (Satisfactory)", 3),
    ("Score: 2\nOn reflection the dosage is missing.\nScore: 1", 1),
    ("Score: 4\nScore: two", None),
    ("The answer is fine.", None),
    ("", None),
    ("Score: 5", None),
    ("Score: 0", None),
    ("Score: 7", None),
    ("Score: two", None),
    ("Score: 3 or 4", None),
    ("Score: 3.5", None),
    ("Score:", None),
])
def test_parse_pointwise(reply, expected):
    assert parse_pointwise(reply) == expected


@pytest.mark.parametrize("reply, expected", [
    ("A is more complete.\nWinner: A", "A"),
    ("Winner: B", "B"),
    ("**Winner:** b", "B"),
    ("Winner: Answer A.", "A"),
    ("Winner: Tie", "tie"),
    ("Winner: equal", "tie"),
    ("Winner: both", "tie"),
    ("Winner: A\nActually B is better.\nWinner: B", "B"),
    ("Winner: A or B", None),
    ("Winner: C", None),
    ("Winner:", None),
    ("B is better.", None),
    ("", None),
])
def test_parse_pairwise(reply, expected):
    assert parse_pairwise(reply) == expected


def test_prompts_have_placeholders_and_format_lines():
    text = POINTWISE_PROMPT.format(note="N{1}", question="Q?", answer="A.")
    assert "N{1}" in text and "Q?" in text and "Score: N" in text
    text = PAIRWISE_PROMPT.format(note="N", question="Q?", answer_a="first", answer_b="second")
    assert text.index("first") < text.index("second") and "Winner: tie" in text


@pytest.fixture
def no_key(monkeypatch):
    """No Colab, no key in the environment, a Jupyter-like session, and input()/getpass() that fail the test."""
    monkeypatch.delenv("JUDGE_API_KEY", raising=False)
    monkeypatch.setenv("JPY_SESSION_NAME", "demo.ipynb")  # interactive: the old code prompted here
    for name in ("google.colab", "google.colab.userdata"):
        monkeypatch.delitem(sys.modules, name, raising=False)

    def refuse(*args, **kwargs):
        raise AssertionError("the judge must never wait for keyboard input")

    monkeypatch.setattr(builtins, "input", refuse)
    monkeypatch.setattr(getpass, "getpass", refuse)


def test_api_key_from_environment(no_key, monkeypatch):
    monkeypatch.setenv("JUDGE_API_KEY", SECRET)
    assert api_key() == SECRET


def test_api_key_never_prompts_even_when_interactive(no_key):
    assert api_key() is None and not hasattr(judge, "getpass")


def test_colab_secret_wins_over_environment(fake_colab, no_key, monkeypatch):
    fake_colab({"JUDGE_API_KEY": "from-colab"})
    monkeypatch.setenv("JUDGE_API_KEY", "from-env")
    assert api_key() == "from-colab"
    monkeypatch.setenv("OTHER_KEY", "other-from-env")
    assert api_key("OTHER_KEY") == "other-from-env"  # a missing secret (userdata.get raises) falls through


class _Response(io.BytesIO):
    """A urlopen() result: a readable context manager."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _client() -> JudgeClient:
    return JudgeClient(base_url="https://judge.example/v1/", model="judge-model", api_key=SECRET, timeout=5)


def test_client_posts_chat_completion(monkeypatch):
    seen = {}

    def fake_urlopen(request, timeout):
        seen["request"], seen["timeout"] = request, timeout
        return _Response(json.dumps({"choices": [{"message": {"role": "assistant", "content": "Score: 4"}}]}).encode())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    assert _client().complete("Grade this.") == "Score: 4"
    request = seen["request"]
    body = json.loads(request.data)
    assert request.full_url == "https://judge.example/v1/chat/completions" and request.get_method() == "POST"
    assert body["model"] == "judge-model" and body["temperature"] == 0
    assert body["messages"] == [{"role": "user", "content": "Grade this."}]
    assert request.get_header("Authorization") == f"Bearer {SECRET}" and seen["timeout"] == 5


@pytest.mark.parametrize("code", [401, 500])
def test_client_http_error_hides_key(monkeypatch, code):
    def fake_urlopen(request, timeout):
        raise urllib.error.HTTPError(request.full_url, code, f"bad key {SECRET}", {}, io.BytesIO(SECRET.encode()))

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    with pytest.raises(WorkbookError, match=str(code)) as info:
        _client().complete("Grade this.")
    assert SECRET not in str(info.value) and info.value.__cause__ is None and info.value.__suppress_context__


def test_client_unreachable_and_bad_json(monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda request, timeout: (_ for _ in ()).throw(
        urllib.error.URLError("Name or service not known")))
    with pytest.raises(WorkbookError, match="Cannot reach the judge"):
        _client().complete("x")
    monkeypatch.setattr(urllib.request, "urlopen", lambda request, timeout: _Response(b'{"error": "nope"}'))
    with pytest.raises(WorkbookError, match="chat-completions format"):
        _client().complete("x")
    monkeypatch.setattr(urllib.request, "urlopen", lambda request, timeout: _Response(b"<html>"))
    with pytest.raises(WorkbookError, match="chat-completions format"):
        _client().complete("x")


def test_client_repr_hides_key():
    assert SECRET not in repr(_client()) and "judge-model" in repr(_client())


class FakeJudge:
    """Answers each prompt from a function of the prompt, and records the prompts."""

    def __init__(self, answer):
        self.answer, self.prompts = answer, []

    def complete(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.answer(prompt)


def _table() -> pd.DataFrame:
    return pd.DataFrame({"note": ["n0", "n1", "n2", "n3"], "question": ["q0", "q1", "q2", "q3"],
                         "answer": ["good", "bad", "junk", "good"], "base": ["x0", "x1", "x2", "x3"],
                         "tuned": ["y0", "y1", "y2", "y3"], "task": ["QA"] * 4})


def test_judge_pointwise_adds_scores():
    fake = FakeJudge(lambda p: {"good": "Score: 4", "bad": "Score: 1", "junk": "no idea"}[
        p.split("[Model answer]\n")[1].split("\n")[0]])
    out = judge_pointwise(fake, _table())
    assert out["judge_score"].tolist() == [4, 1, None, 4] and out["task"].tolist() == ["QA"] * 4
    assert out["judge_reply"].tolist()[2] == "no idea" and "judge_score" not in _table().columns
    assert len(fake.prompts) == 4 and "n1" in fake.prompts[1] and "q1" in fake.prompts[1]


def _answer_a(prompt: str) -> str:
    return prompt.split("[Answer A]\n")[1].split("\n")[0]


def test_judge_pairwise_swaps_and_maps_names():
    # row 0: the judge prefers "tuned" in both orders; row 1: it always picks position A (position bias);
    # row 2: it says tie both times; row 3: one reply is malformed.
    def answer(prompt: str) -> str:
        first = _answer_a(prompt)
        row = int(first[1])
        if row == 0:
            return "Winner: A" if first.startswith("y") else "Winner: B"
        return {1: "Winner: A", 2: "Winner: tie", 3: "Winner: ?" if first.startswith("y") else "Winner: A"}[row]

    fake = FakeJudge(answer)
    out = judge_pairwise(fake, _table(), "base", "tuned")
    assert out["judge_winner"].tolist() == ["tuned", "tie", "tie", None]
    assert len(fake.prompts) == 8 and [_answer_a(p) for p in fake.prompts[:2]] == ["x0", "y0"]
    assert out["judge_reply_ab"][0] == "Winner: B" and out["judge_reply_ba"][0] == "Winner: A"


def test_judge_pairwise_rejects_bad_columns():
    with pytest.raises(WorkbookError, match="two different"):
        judge_pairwise(FakeJudge(str), _table(), "base", "base")
    with pytest.raises(WorkbookError, match="no column 'missing'"):
        judge_pairwise(FakeJudge(str), _table(), "base", "missing")


def test_judge_or_skip_without_key(no_key, capsys):
    assert judge_or_skip(_table(), "https://judge.example/v1", "judge-model") is None
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [judge.PHI_WARNING, "Skipping the LLM-as-judge step because no JUDGE_API_KEY was found: to use it, "
                     "set the environment variable JUDGE_API_KEY before starting Jupyter, then run this cell again."]


def test_judge_or_skip_on_colab_without_key_points_at_the_secrets_panel(fake_colab, no_key, monkeypatch, capsys):
    fake_colab({"HF_TOKEN": "not-this-one"})
    assert judge_or_skip(_table(), "https://judge.example/v1", "judge-model", env_var="MY_JUDGE_KEY") is None
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("Skipping the LLM-as-judge step because no MY_JUDGE_KEY was found")
    assert "Secrets panel (the key icon on the left)" in lines[1] and "Notebook access turned on" in lines[1]


def test_judge_or_skip_with_key_never_prints_it(no_key, monkeypatch, capsys):
    monkeypatch.setenv("JUDGE_API_KEY", SECRET)
    monkeypatch.setattr(urllib.request, "urlopen", lambda request, timeout: _Response(
        json.dumps({"choices": [{"message": {"content": "Fine.\nScore: 3"}}]}).encode()))
    out = judge_or_skip(_table(), "https://judge.example/v1", "judge-model")
    assert out["judge_score"].tolist() == [3, 3, 3, 3] and SECRET not in capsys.readouterr().out
