"""The recipe of the CPU track's tiny base: corpus, tokenizer, curriculum, training and build report.

``python -m helpers.pretrain`` rebuilds the shipped weights in ``helpers/data/tiny_phi`` (card:
``data_cards/tiny_phi.md``); an interrupted build resumes from its last checkpoint. ``helpers.models`` loads
what this module builds; notebook 01 plots the build report.

The curriculum has two stages, chosen by measurement (``measurements/induction_trials.md``):

1. **Copying.** Rows of random token ids in which each span is read twice, the span 4-12 tokens long and
   0-6 other tokens in between, so the distance between the copies changes from row to row (a fixed distance
   is learned by position and does not transfer). Only looking back for the earlier occurrence of the current
   token and reading what followed it predicts the repeat: an induction head. The ids start as a pool of
   ``copy_pool`` and double every ``widen_every`` steps until they cover the whole vocabulary: on the whole
   vocabulary from the start the loss sat at log(vocabulary) for 600 steps (the plateau before induction); on a
   small pool the phase change came after about 350 steps, and each doubling is relearned in about 100.
2. **General text, with copying kept up.** Each step trains on a batch of general-domain text and a batch of
   longer copy rows over the whole vocabulary (spans of 4-40 ids, up to 40 between the readings): stage 1's
   short rows teach copying over a few dozen positions only, and a note's facts sit further back. In half of these
   rows the ids are drawn as often as they occur in the general text, so that frequent tokens recur inside a span
   (as `:` and `-` do in a note) and the model must match more than the current token to find its place.

3. **Reach.** Stage 2's copies lie at most 80 positions apart, and so did the model's copying: a span read 512
   tokens back was hardly cheaper the second time (note probe 0.94 at that window). Each step of stage 3 trains on
   stage 2's general-text and copy rows plus rows of ``recall_length`` tokens in which about half the ids copy a
   span from anywhere earlier in the row (``recall_rows``): a third random ids, a third ids as frequent as in the
   text, a third general text with its own spans spliced back in. It starts with fresh optimizer moments and its own
   random streams, so it continues the weights stage 2 leaves. (One span pair per long row, trial l1, extended the
   reach slowly and cost the short-range copying.)

No row of any stage is a word list, a clinical note or a span of one: the probes that judge copying
(``lm.copy_probe``, ``lm.note_copy_probe``) read text the build never trained on.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

EOS = "<|endoftext|>"  # phi-2's BOS/EOS/UNK token; the tiny tokenizer uses the same string
SHIPPED_DIR = Path(__file__).parent / "data" / "tiny_phi"  # TINY's weights, committed (data_cards/tiny_phi.md)
PROBE_EVERY = 50  # steps between two build-report rows (probes and held-out general loss)


@contextmanager
def no_progress_bars():
    """Silence transformers' per-file progress bars (noise in headless notebook outputs)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.enable_progress_bar()


@dataclass(frozen=True)
class TinySettings:
    """Everything that defines the tiny model; change one field and it is rebuilt (the shipped one is TINY's)."""

    n_notes: int = 3000  # clinical notes generated for notebooks 01 and 05 (the base never trains on them)
    data_seed: int = 0
    n_general: int = 8000  # general-domain documents (helpers.general): the base's only natural text
    vocab_size: int = 4096
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    max_positions: int = 1024
    block_size: int = 512  # tokens per general-text row
    steps: int = 500  # stage 2: general text (with copy rows beside it)
    batch_size: int = 16  # general-text rows per step
    lr: float = 1.5e-3  # stage 2's peak learning rate (warm-up, then cosine decay)
    seed: int = 0
    copy_steps: int = 1500  # stage 1: copy rows only
    copy_pool: int = 64  # ids the copy rows start with; doubled every widen_every steps after the phase change
    widen_from: int = 600  # the step of stage 1 at which the pool starts to double
    widen_every: int = 150
    copy_rows: int = 64  # stage 1: copy rows per step
    copy_length: int = 32  # stage 1: tokens per copy row (spans of 4-12 tokens, 0-6 between the two readings)
    long_copy_rows: int = 16  # stage 2: copy rows per step, beside the general text
    long_copy_length: int = 128  # stage 2: tokens per copy row (spans of 4-40 tokens, 0-40 between the readings)
    copy_lr: float = 1e-3  # stage 1's learning rate (after 100 warm-up steps)
    recall_steps: int = 300  # stage 3: general text beside rows whose spans recur from up to a page back
    recall_rows: int = 9  # stage 3: recall rows per step (a third uniform ids, a third frequent ids, a third text)
    recall_length: int = 768  # stage 3: tokens per recall row (a note in notebook 03 is 475-770 tokens)
    recall_lr: float = 1e-3  # stage 3's peak learning rate (fresh AdamW moments; 30 warm-up steps, then cosine)


TINY = TinySettings()


def tiny_phi(tokenizer, settings: TinySettings = TINY, seed: int | None = None):
    """A freshly initialised tiny PhiForCausalLM sized by ``settings`` for ``tokenizer``."""
    from transformers import PhiConfig, PhiForCausalLM

    torch.manual_seed(settings.seed if seed is None else seed)
    config = PhiConfig(
        vocab_size=len(tokenizer), hidden_size=settings.hidden_size, num_hidden_layers=settings.num_layers,
        num_attention_heads=settings.num_heads, intermediate_size=settings.intermediate_size,
        max_position_embeddings=settings.max_positions, partial_rotary_factor=0.5,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        resid_pdrop=0.0, embd_pdrop=0.0, tie_word_embeddings=False,
    )
    return PhiForCausalLM(config).eval()


def train_tokenizer(texts: list[str], vocab_size: int, max_length: int = TINY.max_positions):
    """A byte-level BPE tokenizer (the kind phi-2 uses) trained on ``texts``, with phi-2's EOS string."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast


    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=EOS, eos_token=EOS, unk_token=EOS,
                                   model_max_length=max_length)


def lm_corpus(settings: TinySettings = TINY) -> dict[str, list[str]]:
    """The notes (no questions or answers) of each split of the bundled synthetic set."""
    from .data import load_notes, notes_table, split_by_patient

    splits = split_by_patient(load_notes("synthetic", n_notes=settings.n_notes, seed=settings.data_seed))
    return {name: notes_table(df)["note"].tolist() for name, df in splits.items()}


def general_corpus(settings: TinySettings = TINY) -> dict[str, list[str]]:
    """The general-domain documents the tiny base pretrains on: 95% train, 5% held out."""
    from .general import general_texts

    texts = general_texts(settings.n_general, seed=settings.data_seed)
    cut = int(0.95 * len(texts))
    return {"train": texts[:cut], "validation": texts[cut:]}


def copy_pool_size(settings: TinySettings, step: int, vocab_size: int) -> int:
    """How many token ids (from id 1 up) stage 1's copy rows draw from at ``step`` (1-based)."""
    doublings = max(0, (step - settings.widen_from) // settings.widen_every + 1) if step > settings.widen_from else 0
    return min(vocab_size - 1, settings.copy_pool * 2**doublings)


def stage_of(settings: TinySettings, step: int) -> str:
    """The build stage that trains step ``step`` (1-based): "copy", "general" or "recall"."""
    if step <= settings.copy_steps:
        return "copy"
    return "general" if step <= settings.copy_steps + settings.steps else "recall"


def _drawer(rng: random.Random, pool: int, cum_weights: list[float] | None):
    """A function that draws ``k`` ids from 1..pool: uniformly, or by ``cum_weights`` (cumulative, one per id)."""
    ids = range(1, pool + 1)

    def draw(k: int) -> list[int]:
        if cum_weights:
            return rng.choices(ids, cum_weights=cum_weights, k=k)
        return [rng.randint(1, pool) for _ in range(k)]

    return draw


def copy_rows(rng: random.Random, n_rows: int, length: int, pool: int, longest: int = 12, widest: int = 6,
              cum_weights: list[float] | None = None) -> torch.Tensor:
    """``n_rows`` rows of ``length`` random ids from 1..pool: spans of 4 to ``longest`` ids, each read twice with 0 to
    ``widest`` other ids between the readings. ``cum_weights`` (cumulative, one per id 1..pool) draws the ids by
    weight instead of uniformly: frequent ids then recur inside a span, as in real text."""
    draw = _drawer(rng, pool, cum_weights)
    rows = []
    for _ in range(n_rows):
        row = [0]  # EOS, as every document starts after one
        while len(row) < length:
            span = draw(rng.randint(4, longest))
            row += span + draw(rng.randint(0, widest)) + span
        rows.append(row[:length])
    return torch.tensor(rows)


def recall_rows(rng: random.Random, n_rows: int, length: int, pool: int, cum_weights: list[float] | None = None,
                source: torch.Tensor | None = None) -> torch.Tensor:
    """``n_rows`` rows of ``length`` ids in which spans recur at every distance the row allows, as a note's facts
    recur in the answer to a question about them: after an opening stretch, the row grows by either a fresh
    stretch of 1-30 ids or a copy of 4-40 ids read from anywhere earlier in the row, so about half the ids are
    copies and their sources lie from a few to ``length`` positions back. The ids are random (from 1..pool, by
    ``cum_weights`` if given); with ``source`` (rows of general text) each row is instead a general-text row with
    copies of its own earlier spans spliced in."""
    draw = _drawer(rng, pool, cum_weights)
    rows = []
    for i in range(n_rows):
        text = source[i].tolist() if source is not None else None
        row, opening = [0], rng.randint(16, 64)
        row += text[:opening] if text else draw(opening)
        read = opening
        while len(row) < length:
            if rng.random() < 0.5:
                n = rng.randint(4, 40)
                start = rng.randrange(1, max(2, len(row) - n))
                row += row[start : start + n]
            else:
                n = rng.randint(1, 30)
                row += text[read : read + n] if text else draw(n)
                read += n
        rows.append(row[:length])
    return torch.tensor(rows)


def recipe_key(settings: TinySettings) -> str:
    """Hash of the settings and of the code that makes the data and trains the model (the cache folder's name)."""
    here = Path(__file__).parent
    files = [here / "data.py", here / "lm.py", here / "general.py", here / "pretrain.py",
             *sorted(here.glob("synthetic*.py"))]
    blob = json.dumps(asdict(settings), sort_keys=True) + "".join(f.read_text() for f in files)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _probe_row(model, tokenizer, step: int, stage: str, loss: float, held_out: torch.Tensor,
               notes: list[str]) -> dict:
    """One row of the build report: both copy probes and the held-out general-text loss at ``step``."""
    from .lm import copy_probe, copy_ratio, note_copy_probe, perplexity

    words = copy_probe(model, tokenizer)
    note = note_copy_probe(model, tokenizer, notes)
    far = note_copy_probe(model, tokenizer, notes, window=512)  # the span from anywhere in the note's first 512
    model.train()
    return {"step": step, "stage": stage, "train_loss": loss, "general_loss": math.log(perplexity(model, held_out)),
            "words_first": words["first reading"], "words_second": words["second reading"],
            "words_ratio": copy_ratio(words), "note_first": note["first reading"],
            "note_second": note["second reading"], "note_ratio": copy_ratio(note),
            "note512_first": far["first reading"], "note512_second": far["second reading"],
            "note512_ratio": copy_ratio(far)}


class _Run:
    """The state of one build that a checkpoint saves: model, optimizer, schedule, random streams, report rows."""

    def __init__(self, settings: TinySettings, model, path: Path):
        from .lm import warmup_cosine

        s = settings
        self.path, self.model, self.step, self.rows, self.losses = path, model, 0, [], []
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=1.0, betas=(0.9, 0.98), weight_decay=0.0)
        first_recall = s.copy_steps + s.steps

        def factor(i: int) -> float:  # i counts from 0 over all stages; lr=1.0 above, so this is the rate itself
            if i < s.copy_steps:
                return s.copy_lr * min(1.0, (i + 1) / 100)
            if i < first_recall:
                return s.lr * warmup_cosine(i - s.copy_steps, s.steps, 30)
            return s.recall_lr * warmup_cosine(i - first_recall, s.recall_steps, 30)

        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.rng, self.gen = random.Random(s.seed), torch.Generator().manual_seed(s.seed)
        if path.exists():
            state = torch.load(path, weights_only=False)
            model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.schedule.load_state_dict(state["schedule"])
            self.rng.setstate(state["rng"])
            self.gen.set_state(state["gen"])
            self.step, self.rows, self.losses = state["step"], state["rows"], state["losses"]

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "schedule": self.schedule.state_dict(), "rng": self.rng.getstate(), "gen": self.gen.get_state(),
                    "step": self.step, "rows": self.rows, "losses": self.losses}, tmp)
        tmp.replace(self.path)


def build_tiny_lm(settings: TinySettings, out_dir: Path, progress: bool = True,
                  stop_at: int | None = None) -> Path | None:
    """Train the tokenizer and the tiny model (stage 1: copying; stage 2: general text) and save both with a report.

    The report also scores held-out *clinical* notes, which the model never saw: the domain shift that notebooks
    03-05 fine-tune across. A checkpoint next to ``out_dir`` lets an interrupted build resume where it stopped.
    """
    from tqdm.auto import tqdm

    from .lm import pack_blocks, perplexity

    s = settings
    out_dir = Path(out_dir)
    start = time.time()
    general = general_corpus(s)
    tokenizer = train_tokenizer(general["train"], s.vocab_size, s.max_positions)
    model = tiny_phi(tokenizer, s)
    train = pack_blocks(general["train"], tokenizer, s.block_size)
    held_out = pack_blocks(general["validation"], tokenizer, s.block_size)
    notes = lm_corpus(s)["validation"]
    clinical = pack_blocks(notes, tokenizer, s.block_size)[:64]
    probe_notes, probe_blocks = notes[:16], held_out[:8]
    ppl_before = perplexity(model, held_out)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    run = _Run(s, model, out_dir.parent / f".{out_dir.name}.checkpoint-{recipe_key(s)}.pt")
    vocab, total = len(tokenizer), s.copy_steps + s.steps + s.recall_steps
    long_text = pack_blocks(general["train"], tokenizer, s.recall_length) if s.recall_steps else None
    frequency = torch.bincount(train.flatten(), minlength=vocab)[1:].double().cumsum(0).tolist()  # ids 1..vocab-1
    model.train()
    bar = tqdm(total=total, initial=run.step, desc="tiny Phi", unit="step", disable=not progress, mininterval=2)
    train_start, first_step = time.time(), run.step
    while run.step < total:
        run.step += 1
        stage = stage_of(s, run.step)
        if stage == "recall" and stage_of(s, run.step - 1) != "recall":  # its own stage: fresh moments and streams
            run.optimizer.state.clear()
            run.rng, run.gen = random.Random(s.seed + 3), torch.Generator().manual_seed(s.seed + 3)
        if stage == "copy":
            pool = copy_pool_size(s, run.step, vocab)
            rows = copy_rows(run.rng, s.copy_rows, s.copy_length, pool)
            loss = model(input_ids=rows, labels=rows).loss
        else:  # longer copies beside the general text (stage 3: and spans recalled from up to a page back)
            pool = vocab - 1
            loss = 0.0
            if stage == "recall":
                third = s.recall_rows // 3
                sources = long_text[torch.randint(len(long_text), (s.recall_rows - 2 * third,), generator=run.gen)]
                recall = torch.cat([recall_rows(run.rng, third, s.recall_length, pool),
                                    recall_rows(run.rng, third, s.recall_length, pool, cum_weights=frequency),
                                    recall_rows(run.rng, len(sources), s.recall_length, pool, source=sources)])
                loss = model(input_ids=recall, labels=recall).loss
            half = s.long_copy_rows // 2  # half the rows with uniform ids, half with ids as frequent as in the text
            rows = torch.cat([copy_rows(run.rng, half, s.long_copy_length, pool, longest=40, widest=40),
                              copy_rows(run.rng, s.long_copy_rows - half, s.long_copy_length, pool, longest=40,
                                        widest=40, cum_weights=frequency)])
            batch = train[torch.randint(len(train), (s.batch_size,), generator=run.gen)]
            loss = loss + model(input_ids=rows, labels=rows).loss + model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        run.optimizer.step()
        run.schedule.step()
        run.optimizer.zero_grad()
        run.losses.append(loss.item())
        if run.step % PROBE_EVERY == 0 or run.step == total:
            run.rows.append(_probe_row(model, tokenizer, run.step, stage, loss.item(), probe_blocks, probe_notes))
            last = run.rows[-1]
            bar.set_postfix(stage=stage, pool=pool, words=f"{last['words_ratio']:.2f}",
                            note=f"{last['note_ratio']:.2f}", general=f"{last['general_loss']:.2f}")
            run.save()
        bar.update(1)
        if run.step == stop_at:
            run.save()
            bar.close()
            return None
    bar.close()
    model.eval()
    seconds = time.time() - train_start
    general_step = s.long_copy_rows * s.long_copy_length + s.batch_size * s.block_size
    per_step = {"copy": s.copy_rows * s.copy_length, "general": general_step,
                "recall": general_step + s.recall_rows * s.recall_length}
    tokens = sum(per_step[stage_of(s, i)] for i in range(first_step + 1, run.step + 1))
    report = {"settings": asdict(s), "trained_on": "general-domain text (helpers.general), rows of random token ids "
              "read twice, and rows (random ids or general text) whose spans recur; no clinical notes",
              "held_out_ppl_before": ppl_before,
              "held_out_ppl_after": perplexity(model, held_out), "clinical_ppl": perplexity(model, clinical),
              "train_losses": run.losses, "probes": run.rows,
              "parameters": sum(p.numel() for p in model.parameters()),
              "tokens_per_second": tokens / seconds if tokens else None, "build_seconds": time.time() - start}
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=".building-"))
    tokenizer.backend_tokenizer.no_truncation()  # the probes' truncated calls leave their length on the backend
    with no_progress_bars():
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    (tmp / "build_report.json").write_text(json.dumps(report, indent=2))
    if out_dir.exists() and out_dir != SHIPPED_DIR:  # another process finished first: keep theirs
        shutil.rmtree(tmp)
    else:
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
    run.path.unlink(missing_ok=True)
    return out_dir


if __name__ == "__main__":  # python -m helpers.pretrain: rebuild the shipped weights (data_cards/tiny_phi.md)
    print(f"Rebuilding the tiny Phi into {SHIPPED_DIR} with {TINY} ...")
    report = json.loads((build_tiny_lm(TINY, SHIPPED_DIR) / "build_report.json").read_text())
    print(json.dumps({k: v for k, v in report.items() if k not in ("train_losses", "probes")}, indent=2))
    print("Last probe row:", json.dumps(report["probes"][-1], indent=2))
