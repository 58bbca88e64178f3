"""An optional LLM-as-judge for the answers of a fine-tuned clinical model (introduced in notebook 03).

As in the Asclepius paper (Kweon et al., ACL Findings 2024), a stronger model grades an answer 1-4 against the note
(pointwise) or picks the better of two answers (pairwise; asked twice, swapped, against position bias). The judge is
any OpenAI-compatible ``/chat/completions`` endpoint; without an API key (a Colab secret or an environment variable,
never a prompt) the step is skipped.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from .keys import secret, secret_hint
from .runtime import WorkbookError

# The 1-4 rubric (Unacceptable / Poor / Satisfactory / Excellent; credit for saying the note cannot answer) is adapted
# in our own words from the Asclepius authors' GPT-4 evaluation prompt, starmpcc/Asclepius eval/gpt4_evaluate.py
# (https://github.com/starmpcc/Asclepius). Their script scores several models' answers in one prompt, in shuffled
# order; we grade one answer at a time, and our pairwise prompt reuses the rubric, swapping the order instead.
_RUBRIC = """1 = Unacceptable: the answer says something wrong or irrelevant, or it answers an instruction that the note
cannot answer instead of saying so.
2 = Poor: nothing wrong, but it leaves out information that the instruction clearly asks for.
3 = Satisfactory: nothing wrong; only minor details are missing.
4 = Excellent: correct, complete and grounded in the note; if the note cannot answer the instruction, the answer
says so."""

_CONTEXT = """You are a careful clinical reviewer. Read the clinical note and the instruction a clinician gave about it,
work out the correct answer from the note yourself, and then judge the model output below.

[Note]
{note}
[End of note]

[Instruction]
{question}
[End of instruction]

"""

POINTWISE_PROMPT = _CONTEXT + """[Model answer]
{answer}
[End of model answer]

Grade the model answer on this scale:
""" + _RUBRIC + """

Explain your grade in a few sentences, then end your reply with one line of the form "Score: N", N being 1, 2, 3 or 4.
"""

PAIRWISE_PROMPT = _CONTEXT + """[Answer A]
{answer_a}
[End of answer A]

[Answer B]
{answer_b}
[End of answer B]

Decide which answer serves the instruction better, using this scale for each (correctness first, then completeness):
""" + _RUBRIC + """

Ignore the order of the answers and their length. Explain your choice in a few sentences, then end your reply with one
line that is exactly "Winner: A", "Winner: B" or "Winner: tie".
"""

PHI_WARNING = ("Privacy: never send real patient notes to a third-party service. Use the judge only on synthetic or "
               "properly de-identified notes, and only under an agreement your institution has approved.")

_SCORE_LINE = re.compile(r"^[\s*_#>-]*(?:final\s+)?score[\s*_]*[:=](.*)$", re.IGNORECASE | re.MULTILINE)
_WINNER_LINE = re.compile(r"^[\s*_#>-]*winner[\s*_]*[:=](.*)$", re.IGNORECASE | re.MULTILINE)
_TIES = ("tie", "equal", "equally", "both")


class Completer(Protocol):
    """Anything with ``complete(prompt) -> str``: a JudgeClient, or a fake one in tests."""

    def complete(self, prompt: str) -> str: ...


def parse_pointwise(reply: str) -> int | None:
    """The 1-4 score on the last ``Score:`` line, or None when it is missing, out of range or ambiguous."""
    lines = [line.replace("*", "").replace("_", "") for line in _SCORE_LINE.findall(reply or "")] or [""]
    value = re.sub(r"\s*(?:/|out\s+of)\s*4\b", "", lines[-1]).strip()
    numbers = re.findall(r"\d+", value)
    if len(numbers) != 1 or not value.startswith(numbers[0]):
        return None
    score = int(numbers[0])
    return score if 1 <= score <= 4 else None


def parse_pairwise(reply: str) -> str | None:
    """The verdict on the last ``Winner:`` line: "A", "B" or "tie" (also equal, both); None when malformed."""
    lines = _WINNER_LINE.findall(reply or "")
    words = re.findall(r"[a-z]+", lines[-1].lower()) if lines else []
    words = words[1:] if words[:1] in (["answer"], ["response"]) else words
    if words[:1] and words[0] in _TIES:
        return "tie"
    if words[:1] in (["a"], ["b"]) and words[1:2] not in (["a"], ["b"], ["or"], ["and"]):
        return words[0].upper()
    return None


def api_key(env_var: str = "JUDGE_API_KEY") -> str | None:
    """The judge API key from a Colab secret or the environment, else None; it never prompts."""
    return secret(env_var)


@dataclass
class JudgeClient:
    """An OpenAI-compatible chat endpoint, e.g. base_url="https://api.openai.com/v1"; the key stays out of repr."""

    base_url: str
    model: str
    api_key: str = field(repr=False)
    timeout: float = 60.0

    def _fail(self, message: str) -> WorkbookError:
        """A WorkbookError whose message can never contain the key."""
        return WorkbookError(message.replace(self.api_key, "***") if self.api_key else message)

    def complete(self, prompt: str) -> str:
        """The judge's reply to one user message, at temperature 0."""
        url = self.base_url.rstrip("/") + "/chat/completions"
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}], "temperature": 0}
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            hint = "set a valid API key" if err.code in (401, 403) else f"check base_url and model {self.model!r}"
            raise self._fail(f"The judge at {url} answered HTTP {err.code} {err.reason}: {hint}.") from None
        except OSError as err:  # URLError, timeouts, refused connections
            reason = getattr(err, "reason", err)
            raise self._fail(f"Cannot reach the judge at {url} ({reason}): check base_url and network.") from None
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            content = None
        if not isinstance(content, str):
            raise self._fail(f"The judge at {url} did not answer in the chat-completions format: point base_url "
                             "at an OpenAI-compatible API (usually ending in /v1).")
        return content


def _require(rows: pd.DataFrame, columns: list[str]) -> None:
    """Raise a WorkbookError naming the first column that ``rows`` lacks."""
    for column in columns:
        if column not in rows.columns:
            raise WorkbookError(f"The table has no column {column!r}; pass a table with columns {columns}.")


def judge_pointwise(client: Completer, rows: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``rows`` (note, question, answer, ...) with ``judge_score`` (1-4 or None) and ``judge_reply``."""
    _require(rows, ["note", "question", "answer"])
    replies = [client.complete(POINTWISE_PROMPT.format(note=r.note, question=r.question, answer=r.answer))
               for r in rows.itertuples(index=False)]
    out = rows.copy()
    out["judge_score"] = pd.Series([parse_pointwise(x) for x in replies], index=out.index, dtype="object")
    out["judge_reply"] = replies
    return out


def _verdict(first: str | None, swapped: str | None, col_a: str, col_b: str) -> str | None:
    """Combine the A/B and the swapped B/A verdicts: a None stays None, disagreement is a tie."""
    if first is None or swapped is None:
        return None
    pick = {"A": col_a, "B": col_b, "tie": "tie"}[first]
    return pick if pick == {"A": col_b, "B": col_a, "tie": "tie"}[swapped] else "tie"


def judge_pairwise(client: Completer, rows: pd.DataFrame, col_a: str, col_b: str) -> pd.DataFrame:
    """A copy of ``rows`` with ``judge_winner``: col_a, col_b, "tie" or None, asking twice with A and B swapped."""
    if col_a == col_b:
        raise WorkbookError(f"judge_pairwise() compares two columns; pass two different names, not {col_a!r} twice.")
    _require(rows, ["note", "question", col_a, col_b])
    out = rows.copy()
    ab, ba, winners = [], [], []
    for _, r in rows.iterrows():
        ab.append(client.complete(PAIRWISE_PROMPT.format(note=r["note"], question=r["question"],
                                                         answer_a=r[col_a], answer_b=r[col_b])))
        ba.append(client.complete(PAIRWISE_PROMPT.format(note=r["note"], question=r["question"],
                                                         answer_a=r[col_b], answer_b=r[col_a])))
        winners.append(_verdict(parse_pairwise(ab[-1]), parse_pairwise(ba[-1]), col_a, col_b))
    out["judge_winner"] = pd.Series(winners, index=out.index, dtype="object")
    out["judge_reply_ab"], out["judge_reply_ba"] = ab, ba
    return out


def judge_or_skip(rows: pd.DataFrame, base_url: str, model: str, env_var: str = "JUDGE_API_KEY",
                  pairwise: tuple[str, str] | None = None, timeout: float = 60.0) -> pd.DataFrame | None:
    """The notebook's entry point: warn about PHI, then judge pointwise (or ``pairwise=(col_a, col_b)``) or skip."""
    print(PHI_WARNING)
    key = api_key(env_var)
    if key is None:
        print(f"Skipping the LLM-as-judge step because no {env_var} was found: to use it, {secret_hint(env_var)}.")
        return None
    client = JudgeClient(base_url=base_url, model=model, api_key=key, timeout=timeout)
    return judge_pointwise(client, rows) if pairwise is None else judge_pairwise(client, rows, *pairwise)
