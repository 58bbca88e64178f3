"""Deterministic synthetic discharge summaries with Asclepius-style QA pairs and outcome labels.

Introduced in notebook 01 as the CPU track's offline stand-in for the Asclepius notes (same
columns patient_id, note, question, answer, task); notebook 05 trains classifiers on the outcome
labels from `admission_note`, an admission-only view that never states the outcome. One
`random.Random(seed)` drives everything, so output is identical everywhere. Word lists and
templates: `synthetic_vocab`; data card: `data_cards/synthetic_clinical_notes.md`.
"""

from __future__ import annotations

import math
import random
import re
from datetime import date, timedelta
from itertools import takewhile

import pandas as pd

from . import synthetic_vocab as V

TASKS: tuple[str, ...] = (
    "Named Entity Recognition", "Abbreviation Expansion", "Relation Extraction",
    "Temporal Information Extraction", "Coreference Resolution", "Paraphrasing", "Summarization",
    "Question Answering",
)
LOS_BUCKETS: tuple[str, ...] = ("<=3 days", "3-7 days", "7-14 days", ">14 days")
DIAGNOSIS_CODES: tuple[str, ...] = tuple(V.DIAGNOSIS_NAMES)
PROCEDURE_CODES: tuple[str, ...] = tuple(V.PROCEDURE_NAMES)
CODE_NAMES: dict[str, str] = {**V.DIAGNOSIS_NAMES, **V.PROCEDURE_NAMES}
BANNED_ADMISSION_TERMS: tuple[str, ...] = (
    "expired", "died", "death", "deceased", "passed away", "discharge", "discharged",
    "hospital course", "length of stay", "ventilat", "intubat", "extubat", "tracheostomy",
    "mortality", "comfort care", "hospice", "autopsy", "follow-up", "follow up", "los ",
    "days in hospital",
)
COLUMNS: tuple[str, ...] = (
    "patient_id", "note", "question", "answer", "task", "admission_note", "mortality",
    "prolonged_mv", "los_days", "los_bucket", "diagnoses", "procedures",
)
ADMITTED: tuple[str, ...] = ("cc", "hpi", "pmh", "exam", "meds")  # sections in admission_note
_ABBR_RE = re.compile(r"(?<![\w&/])(" + "|".join(
    map(re.escape, sorted(V.ABBREVIATIONS, key=len, reverse=True))) + r")(?![\w&/])")


def los_bucket(los_days: int) -> int:
    """Return the LOS_BUCKETS index of a stay: <=3 -> 0, (3, 7] -> 1, (7, 14] -> 2, >14 -> 3."""
    return 0 if los_days <= 3 else 1 if los_days <= 7 else 2 if los_days <= 14 else 3


def _sigmoid(x: float) -> float:
    """Return the logistic function of x."""
    return 1.0 / (1.0 + math.exp(-x))


def _clip(x: float, lo: float, hi: float) -> float:
    """Return x limited to [lo, hi]."""
    return min(hi, max(lo, x))


def _cap(text: str) -> str:
    """Return text with its first character upper-cased."""
    return text[:1].upper() + text[1:]


def _join(items: list[str]) -> str:
    """Return items as an English list ('a, b and c')."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _days(n: int) -> str:
    """Return '1 day' or 'n days'."""
    return f"{n} day" + ("" if n == 1 else "s")


def _plain(text: str) -> str:
    """Return text with every known abbreviation written out."""
    return _ABBR_RE.sub(lambda m: V.ABBREVIATIONS[m.group(1)], text)


def _drug(med: str) -> str:
    """Return the drug name of a medication line: the words before the first number."""
    return " ".join(takewhile(lambda word: not word[0].isdigit(), med.split()))


def _fmt(template: str, p: dict, **extra: object) -> str:
    """Fill a vocabulary template with the patient's common fields (side, pronouns, age, ...)."""
    return template.format(**p["f"], **extra)


def _comorbidities(rng: random.Random, age: int, needs: tuple[str, ...]) -> list[str]:
    """Return chronic conditions: the scenario's required ones plus an age-dependent draw."""
    k = sum(rng.random() < _clip((age - 25) / 110, 0.05, 0.6) for _ in range(6))
    keys = {name: rng.random() ** (1.0 / spec[2]) for name, spec in V.COMORBIDITIES.items()}
    chosen = list(needs)
    for name in sorted(keys, key=keys.get, reverse=True):
        if len(chosen) < len(needs) + k and name not in chosen and not {
                "DM1", "DM2"} <= {name, *chosen}:
            chosen.append(name)
    return chosen


def _vitals(rng: random.Random, sc: dict, acuity: float) -> dict[str, float]:
    """Return admission vital signs that worsen with acuity (the visible part of the risk)."""
    sbp = round(_clip(134 - 16 * acuity + rng.gauss(0, 11), 68, 205))
    fever = 0.9 + 0.4 * acuity if sc["fever"] else 0.0
    resp = 3 * sc["resp"]
    return dict(t=round(_clip(36.9 + fever + rng.gauss(0, 0.3), 35.6, 40.6), 1),
                hr=round(_clip(84 + 13 * acuity + rng.gauss(0, 9), 48, 165)), sbp=sbp,
                dbp=round(_clip(0.6 * sbp + rng.gauss(0, 5), 35, 115)),
                rr=round(_clip(17 + 3 * acuity + resp + rng.gauss(0, 2), 10, 40)),
                spo2=round(_clip(97.5 - 2.5 * acuity - resp + rng.gauss(0, 1.5), 76, 100)))


def _patient(rng: random.Random, number: int) -> dict:
    """Draw one patient: scenario, demographics, vitals, latent risk and the labels it drives."""
    sc = rng.choices(V.SCENARIOS, weights=[s["weight"] for s in V.SCENARIOS])[0]
    age = round(_clip(rng.gauss(*sc["age"]), 18, 97))
    comorbs = _comorbidities(rng, age, sc["needs"])
    acuity = sc["sev"] + rng.gauss(0, 1)
    burden = sum(V.COMORBIDITIES[c][3] for c in comorbs)
    risk = 0.035 * (age - 65) + 0.35 * burden + acuity + rng.gauss(0, 0.6)
    vented = rng.random() < _sigmoid(-3.5 + 1.5 * risk + sc["resp"])
    mv_days = round(_clip(rng.lognormvariate(2.25 + 0.2 * risk, 0.9), 1, 30)) if vented else 0
    died = rng.random() < _sigmoid(-4.4 + 1.5 * risk + 1.0 * vented)
    los = round(_clip(sc["los"] * math.exp(0.25 * risk + rng.gauss(0, 0.5)), 1, 45))
    vent_day = rng.randint(1, 2) if vented else 0
    if vented:
        los = max(los, vent_day + mv_days - 1 + (0 if died else rng.randint(1, 5)))
    admit = date(rng.randint(2100, 2190), 1, 1) + timedelta(days=rng.randint(0, 364))
    male = rng.random() < 0.5
    subj = "he" if male else "she"
    f = dict(side=rng.choice(("left", "right")), subj=subj, Subj=_cap(subj),
             obj="him" if male else "her", noun="man" if male else "woman", age=age,
             An="An" if str(age)[0] == "8" or age == 18 else "A", ef=rng.randrange(20, 60, 5))
    return dict(id=f"SYN-{number:06d}", sc=sc, male=male, comorbs=comorbs, acuity=acuity, f=f,
                vitals=_vitals(rng, sc, acuity), vented=vented, mv_days=mv_days,
                vent_day=vent_day, died=died, los=los, admit=admit,
                end=admit + timedelta(days=los), coref=[], para=[], tx=[])


def _hpi(rng: random.Random, p: dict) -> str:
    """Return the history of present illness (admission facts only); record its paraphrase."""
    sc, v, f = p["sc"], p["vitals"], p["f"]
    sx = [_fmt(s, p) for s in rng.sample(sc["sx"], 3)]
    who = rng.choice((f"{f['age']}-year-old {f['noun']}",
                      f"{f['age']} y/o {'M' if p['male'] else 'F'}",
                      f"{f['age']}-year-old {'male' if p['male'] else 'female'}"))
    hx = f"a hx of {_join(p['comorbs'])}" if p["comorbs"] else "no significant PMH"
    dur = rng.choice(V.DURATIONS)
    first = _fmt(rng.choice(V.HPI_FIRST), p, who=who, Who=_cap(who), hx=hx, dur=dur,
                 sx0=sx[0], sx1=sx[1])
    lay = (_join([V.COMORBIDITIES[c][1] for c in p["comorbs"]]) if p["comorbs"]
           else "no major medical problems")
    p["para"].append((first, _fmt(V.HPI_FIRST_PLAIN, p, lay=lay, dur=dur, sx0=_plain(sx[0]),
                                  sx1=_plain(sx[1]))))
    abnormal = ((f"febrile to {v['t']}", v["t"] >= 38.0),
                (f"tachycardic to {v['hr']}", v["hr"] > 100),
                (f"hypotensive to {v['sbp']}/{v['dbp']}", v["sbp"] < 90),
                (f"tachypneic to {v['rr']}", v["rr"] > 24),
                (f"hypoxic to {v['spo2']}% on RA", v["spo2"] < 90))
    abn = [text for text, bad in abnormal if bad]
    ed = (f"In the ED, {f['subj']} was {_join(abn)}." if abn
          else f"In the ED, {f['subj']} was afebrile and hemodynamically stable.")
    _, base, slope, decimals, floor = sc["lab"]
    value = max(floor, base + slope * p["acuity"] + rng.gauss(0, abs(slope) * 0.5))
    p["ed"] = _fmt(sc["ed"], p, lab=f"{value:.{decimals}f}")
    icu = "CCU" if sc["service"] == "CARDIOLOGY" else "MICU"
    p["unit"] = icu if p["acuity"] > 1.3 else "floor"
    extra = rng.choice(V.SEVERE_HPI if p["acuity"] > 1.0 else V.MILD_HPI)
    parts = [first, f"{f['Subj']} also reports {sx[2]}." if rng.random() < 0.6 else "",
             _fmt(extra, p) if rng.random() < 0.7 else "", ed, _cap(p["ed"]) + ".",
             f"{f['Subj']} received {sc['ed_tx']} and was admitted to the {p['unit']}."]
    return " ".join(s for s in parts if s)


def _exam(rng: random.Random, p: dict) -> str:
    """Return the admission exam: vitals, appearance by acuity, findings, mental status."""
    v, sc, a = p["vitals"], p["sc"], p["acuity"]
    o2 = "on 3L NC" if v["spo2"] < 92 and rng.random() < 0.5 else "on RA"
    tier = 0 if a < -0.3 else 1 if a < 0.6 else 2 if a < 1.4 else 3
    lines = [rng.choice(V.VITALS).format(o2=o2, **v),
             f"{rng.choice(('Gen', 'General'))}: {rng.choice(V.APPEARANCE[tier])}"]
    lines += [_fmt(s, p) for s in rng.sample(sc["exam"], 2)]
    if sc["key"] != "stroke":
        lines.append("Neuro: " + rng.choice(V.NEURO[int(a > 1.2 and rng.random() < 0.6)]))
    return "\n".join(lines)


def _diagnoses(rng: random.Random, p: dict) -> list[str]:
    """Return diagnosis codes: scenario primary and extras, shock, respiratory failure, history."""
    sc = p["sc"]
    codes = list(sc["primary"]) + [c for c, prob in sc["extra"] if rng.random() < prob]
    codes += ["995.92", "785.52"] * (sc["fever"] and (p["vitals"]["sbp"] < 90 or p["vented"]))
    codes += ["518.81"] * p["vented"]
    codes += [V.COMORBIDITIES[c][0] for c in p["comorbs"] if c not in sc["needs"]]
    return list(dict.fromkeys(codes))


def _procedures(rng: random.Random, p: dict) -> list[tuple]:
    """Draw procedure items (codes, phrase, reason, result, day) by day; record all codes on p."""
    gen = V.GENERAL_PROCS
    items = [(codes, *text) for codes, prob, *text in p["sc"]["procs"] if rng.random() < prob]
    extra = (("cvc", 0.6 if p["vented"] else _sigmoid(-3 + 1.2 * p["acuity"])),
             ("aline", 0.5 * p["vented"]), ("trach", 0.5 * (p["mv_days"] >= 10)),
             ("hd", 0.3 * ("584.9" in p["dx_codes"])), ("prbc", 0.04), ("echo", 0.05),
             ("cth", 0.1 if p["acuity"] > 1.3 else 0.03))
    for key, prob in extra:
        if rng.random() < prob and not set(gen[key][0]) & {c for it in items for c in it[0]}:
            items.append(gen[key])
    if ("31.1",) in [it[0] for it in items] and rng.random() < 0.4:
        items.append(gen["peg"])
    last, late = max(1, min(4, p["los"])), p["vent_day"] + 7 + rng.randint(0, 2)
    early = sorted(rng.randint(1, last) for _ in items)  # items keep their clinical order
    days = [late + (it[0] == ("43.11",)) if it[0] in (("31.1",), ("43.11",)) and p["mv_days"] >= 10
            else day for it, day in zip(items, early, strict=True)]
    done = sorted(((codes, *(_fmt(t, p) for t in text), day)
                   for (codes, *text), day in zip(items, days, strict=True)), key=lambda it: it[-1])
    vent = ["96.04", "96.72" if p["mv_days"] >= 4 else "96.71"] if p["vented"] else []
    p["proc_codes"] = vent + [c for it in done for c in it[0]]
    return done


def _course(rng: random.Random, p: dict) -> str:
    """Return the hospital course; record treatments, coreference and paraphrase facts on p."""
    sc, f, end = p["sc"], p["f"], p["end"].isoformat()
    out = [_fmt(rng.choice(V.OPENERS), p, unit=p["unit"], service=sc["service"].lower(),
                dx=_fmt(sc["dx"], p))]
    (drug, ind, lay_drug, lay_ind), n = sc["tx"][0], _days(rng.randint(3, 7))
    s = _fmt(rng.choice(V.TX_FIRST), p, drug=drug, Drug=_cap(drug), ind=ind, n=n)
    p["tx"].append((drug, ind, n))
    p["coref"].append((s, "it", drug))
    p["para"].append((s, _fmt(V.TX_FIRST_PLAIN, p, lay_drug=lay_drug, lay_ind=lay_ind, n=n)))
    out.append(s)
    if rng.random() < 0.8:
        drug2, ind2 = sc["tx"][1][:2]
        out.append(_fmt(rng.choice(V.TX_SECOND), p, drug2=drug2, Drug2=_cap(drug2), ind2=ind2))
        p["tx"].append((drug2, ind2, ""))
    events = []
    if p["vented"]:
        day, stop = p["vent_day"], p["vent_day"] + p["mv_days"]
        kind = "hypercarbic" if sc["key"] == "copd" else "hypoxemic"
        s = _fmt(V.VENT_START, p, day=day, kind=kind)
        p["para"].append((s, _fmt(V.VENT_START_PLAIN, p, day=day)))
        how = ("still on" if p["los"] + 1 <= stop else
               "weaned" if "31.1" in p["proc_codes"] else "extubated")
        events += [(day, s), (stop, _fmt(V.VENT_STOP[how], p, stop=stop, mv=_days(p["mv_days"])))]
    for _, phrase, reason, result, day in p["procs"]:
        if not reason:
            continue
        ref = rng.choice(("it", "the procedure"))
        s = _fmt(rng.choice(V.PROC_SENTENCES), p, day=day, phrase=phrase, reason=reason, ref=ref,
                 result=result)
        p["coref"].append((s, ref, phrase))
        events.append((day, s))
    out += [s for _, s in sorted(events, key=lambda e: e[0])]
    if p["died"]:
        s, plain = _fmt(rng.choice(V.DEATH_ENDINGS), p, date=end), _fmt(V.DEATH_PLAIN, p, date=end)
    else:
        level = int(f["age"] > 75) + int(p["los"] > 7) + int(rng.random() < 0.3)
        p["dispo"] = V.DISPOSITIONS[min(3, level)]
        s = _fmt(rng.choice(V.ALIVE_ENDINGS), p, date=end, dispo=p["dispo"][1])
        plain = _fmt(V.ALIVE_PLAIN, p, date=end, dispo=p["dispo"][2])
    if s.startswith(f["Subj"] + " "):
        p["coref"].append((s, f["Subj"], "the patient"))
    p["para"].append((s, plain))
    out.append(s)
    lines = [" ".join(out)]
    for c in p["comorbs"][:2]:
        if rng.random() < 0.5:
            meds = V.COMORBIDITIES[c][4]
            lines.append(f"# {c}: " + (f"home {_drug(meds[0])} was continued." if meds
                                       else "stable, no active issues."))
    return "\n".join(lines)


def _listing(rng: random.Random, items: list[str]) -> str:
    """Return items as a numbered list, a dashed list or one comma-separated line, or 'None.'."""
    if not items:
        return "None."
    style = rng.randrange(3)
    if style == 0:
        return ", ".join(items)
    return "\n".join(f"{i}. {x}" if style == 1 else f"- {x}" for i, x in enumerate(items, 1))


def _sections(rng: random.Random, p: dict) -> list[tuple[str, str, str]]:
    """Return the note's (key, header, body) sections in note order; facts are recorded on p."""
    sc, died = p["sc"], p["died"]
    p["dx_codes"], p["cc"] = _diagnoses(rng, p), _fmt(rng.choice(sc["cc"]), p)
    home = {_drug(m): m for c in p["comorbs"] for m in V.COMORBIDITIES[c][4]}
    p["home_meds"], p["procs"] = list(home.values()), _procedures(rng, p)
    names = [CODE_NAMES[c] for c in p["dx_codes"]]
    primary = f"Primary: {names[0]}" + (f"\nSecondary: {'; '.join(names[1:])}" * (len(names) > 1))
    surgical = [rng.choice(V.SURGICAL_HISTORY)] * (rng.random() < 0.3)
    body = dict(cc=p["cc"], hpi=_hpi(rng, p), exam=_exam(rng, p), course=_course(rng, p),
                pmh=_listing(rng, p["comorbs"] + surgical), meds=_listing(rng, p["home_meds"]),
                procs="\n".join(f"- {CODE_NAMES[c]}" for c in p["proc_codes"]) or "None.",
                dx=_listing(rng, names) if rng.random() < 0.5 else primary,
                cond="Deceased." if died else rng.choice(V.CONDITIONS),
                dispo="Expired" if died else p["dispo"][0])
    if not died:
        meds = {_drug(m): m for m in p["home_meds"] + list(sc["dmeds"])}  # new doses replace old
        body["dmeds"] = _listing(rng, list(meds.values()))
        when = rng.choice(("1 week", "1-2 weeks", "2 weeks"))
        pcp = sc["clinic"] != "your PCP" and rng.random() < 0.5
        body["fu"] = (f"Follow up with {sc['clinic']} in {when}."
                      + " Please also see your PCP within 1 week." * pcp)
    early = rng.random() < 0.35
    order = (["cc"] + ["procs"] * early + ["hpi", "pmh"] + rng.choice(V.ADMISSION_ORDERS)
             + ["course"] + ["procs"] * (not early) + rng.choice(V.DISCHARGE_ORDERS))
    upper = rng.random() < 0.3
    heads = {k: rng.choice(V.HEADERS[k]) for k in order}
    return [(k, heads[k].upper() if upper else heads[k], body[k]) for k in order if k in body]


def _block(header: str, body: str) -> str:
    """Return one rendered section: short single-line bodies inline, others below the header."""
    inline = "\n" not in body and len(body) < 60 and not body.startswith(("- ", "1. "))
    return f"{header}: {body}" if inline else f"{header}:\n{body}"


def _qa_candidates(p: dict, secs: list[tuple[str, str, str]]) -> list[tuple[str, dict]]:
    """Return every (QA_TEMPLATES key, fields) pair the note grounds, across all eight tasks."""
    f, dx, (drug, _, n) = p["f"], _fmt(p["sc"]["dx"], p), p["tx"][0]
    start, end, los, mv = (p["admit"].isoformat(), p["end"].isoformat(), _days(p["los"]),
                           _days(p["mv_days"]))
    procs = [dict(phrase=ph, Phrase=_cap(ph), reason=why, result=res, day=day)
             for _, ph, why, res, day in p["procs"] if why]
    out = [("ner_dx", dict(items="; ".join(CODE_NAMES[c] for c in p["dx_codes"])))]
    out += [("ner_meds", dict(items="; ".join(p["home_meds"])))] * bool(p["home_meds"])
    out += [("ner_procs", dict(items="; ".join(CODE_NAMES[c] for c in p["proc_codes"])))] * bool(
        p["proc_codes"])
    out += [("ner_pmh", dict(items="; ".join(p["comorbs"])))] * bool(p["comorbs"])
    found: dict[str, str] = {}
    for key, _, body in secs:
        for abbr in _ABBR_RE.findall(body):
            found.setdefault(abbr, V.HEADERS[key][0].lower())
    out += [("abbr", dict(abbr=a, sec=s, full=V.ABBREVIATIONS[a])) for a, s in found.items()]
    for d, i, _ in p["tx"]:
        out += [(key, dict(drug=d, Drug=_cap(d), ind=i)) for key in ("rel_drug", "rel_ind")]
    out += [("rel_proc", x) for x in procs] + [("tmp_proc", x) for x in procs]
    out += [("tmp_death" if p["died"] else "tmp_stay", dict(start=start, end=end, los=los)),
            ("tmp_drug", dict(drug=drug, Drug=_cap(drug), n=n))]
    out += [("tmp_vent", dict(day=p["vent_day"], mv=mv))] * p["vented"]
    out += [("coref", dict(sentence=s, ref=r, antecedent=a)) for s, r, a in p["coref"]]
    out += [("para", dict(sentence=s, plain=pl)) for s, pl in p["para"]]
    phrases = [x["phrase"] for x in procs[:2]]
    outcome = (_fmt(V.DEATH_PLAIN, p, date=end) if p["died"] else
               f"{f['Subj']} improved and was discharged {p['dispo'][1]} on {end}, after {los}.")
    hx = f" with {_join(p['comorbs'][:3])}" if p["comorbs"] else ""
    summary = _fmt(V.SUMMARY, p, hx=hx,
                   dx=dx, cc=p["cc"], drugs=_join([t[0] for t in p["tx"]]),
                   procs=f" and underwent {_join(phrases)}" if phrases else "",
                   vent=f", and required mechanical ventilation for {mv}" * p["vented"],
                   outcome=outcome)
    vent = (f"Yes, from hospital day {p['vent_day']}, for {mv}." if p["vented"] else
            "No, the note does not describe mechanical ventilation during this admission.")
    return out + [("summary", dict(summary=summary)),
                  ("qa_reason", dict(Subj=f["Subj"], dx=dx, cc=p["cc"], drug=drug)),
                  ("qa_ed", dict(ed=p["ed"])), ("qa_vent", dict(vent=vent)),
                  ("qa_outcome", dict(outcome=outcome))]


def generate_notes(n_notes: int = 3000, seed: int = 0, qa_per_note: int = 2) -> pd.DataFrame:
    """Return n_notes * qa_per_note rows (one per note and QA pair) with the columns in COLUMNS."""
    if not isinstance(n_notes, int) or n_notes < 1:
        raise ValueError(f"n_notes must be a whole number >= 1 (got {n_notes!r}).")
    if not isinstance(qa_per_note, int) or not 1 <= qa_per_note <= len(TASKS):
        raise ValueError(f"qa_per_note must be a whole number from 1 to 8 (got {qa_per_note!r}).")
    rng, qa_rng, rows = random.Random(seed), random.Random(f"qa-{seed}"), []
    for number in range(1, n_notes + 1):
        note_rng = random.Random(rng.getrandbits(64))  # per note, so template edits stay local
        p = _patient(note_rng, number)
        secs = _sections(note_rng, p)
        top = note_rng.choice(V.NOTE_TOPS).format(
            admit=p["admit"], end=p["end"], age=p["f"]["age"], sex="M" if p["male"] else "F",
            service=p["sc"]["service"])
        shared = dict(
            note="\n\n".join([top] + [_block(h, b) for _, h, b in secs]),
            admission_note="\n\n".join(_block(h, b) for k, h, b in secs if k in ADMITTED),
            mortality=int(p["died"]), prolonged_mv=int(p["mv_days"] > 7), los_days=p["los"],
            los_bucket=los_bucket(p["los"]), diagnoses=";".join(p["dx_codes"]),
            procedures=";".join(p["proc_codes"]))
        by_task: dict[str, list[tuple[str, dict]]] = {}
        for key, fields in _qa_candidates(p, secs):
            by_task.setdefault(V.QA_TEMPLATES[key][0], []).append((key, fields))
        for task in qa_rng.sample(TASKS, qa_per_note):  # own stream: notes ignore qa_per_note
            key, fields = qa_rng.choice(by_task[task])
            _, questions, answers = V.QA_TEMPLATES[key]
            question, answer = qa_rng.choice(questions), qa_rng.choice(answers)
            rows.append(dict(patient_id=p["id"], question=question.format(**fields),
                             answer=answer.format(**fields), task=task, **shared))
    return pd.DataFrame(rows, columns=list(COLUMNS))
