"""Deterministic general-domain text: the CPU track's stand-in for the general web and book text phi-2 read.

Introduced in notebook 01. The tiny base model and its tokenizer are pretrained on this text only, never on
the clinical notes, so that clinical notes are a new domain to it, as they are to phi-2: new words
(abbreviations such as HTN or SOB split into several tokens), a new layout (section headers, lists of
medications) and new facts. Like phi-2's "textbook" data, part of it is reading exercises (a passage, then
questions answered from the passage), lists, dates and short forms: skills a general model brings to
fine-tuning. Nothing here is clinical shorthand. One ``random.Random(seed)`` drives everything.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from . import synthetic_vocab as V

NAMES = ("Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Irene", "Jonas", "Kemal", "Lena",
         "Marco", "Nadia", "Oscar", "Priya", "Quinn", "Rosa", "Samir", "Tara", "Umar", "Vera", "Wen", "Yusuf")
PLACES = ("the market", "the library", "the harbour", "the old mill", "the train station", "the park", "the bakery",
          "the museum", "the river bank", "the school", "the town hall", "the garden centre", "the beach", "the farm")
TOWNS = ("Millbrook", "Ashford", "Riverton", "Kelso", "Pinehill", "Eastwick", "Norbury", "Stonebridge", "Dunmore")
ITEMS = ("apples", "a loaf of bread", "two pears", "a jar of honey", "fresh eggs", "a bag of rice", "tomatoes",
         "a bunch of carrots", "cheese", "a bottle of milk", "green beans", "a box of tea", "oranges", "onions",
         "a sack of potatoes", "some flour", "a basket of plums", "a tin of sardines")
ACTIVITIES = ("painted the fence", "fixed a bicycle", "read a long novel", "planted beans", "baked a cake",
              "wrote a letter", "walked the dog", "cleaned the kitchen", "repaired the roof", "learned a new song",
              "built a bird house", "sorted old photographs", "visited a friend", "went for a swim")
FEELINGS = ("happy", "tired", "proud", "curious", "calm", "excited", "worried", "relieved", "cheerful")
WEATHER = ("sunny", "cloudy", "rainy", "windy", "foggy", "cold", "warm", "stormy", "mild")
ANIMALS = ("a fox", "an owl", "a heron", "two deer", "a hedgehog", "a family of ducks", "a red squirrel", "a badger")
JOBS = ("a teacher", "a baker", "a carpenter", "a nurse", "a farmer", "a librarian", "a driver", "a painter",
        "an engineer", "a gardener", "a chef", "a doctor")
EVENTS = ("the spring fair", "the book festival", "the harvest market", "the music week", "the boat race",
          "the flower show", "the science camp", "the chess tournament", "the summer school", "the film festival")
SHORT_FORMS = {"km": "kilometre", "kg": "kilogram", "St.": "Street", "Ave.": "Avenue", "approx.": "approximately",
               "e.g.": "for example", "i.e.": "that is", "etc.": "and so on", "Mon.": "Monday", "Fri.": "Friday",
               "Jan.": "January", "Aug.": "August", "no.": "number", "tel.": "telephone", "min": "minute",
               "hr": "hour", "Dept.": "Department", "Mr.": "Mister", "TV": "television", "PC": "personal computer"}
ACRONYMS = ("UN", "EU", "NASA", "BBC", "ID", "PIN", "ATM", "GPS", "USB", "DVD", "FAQ", "CEO", "DIY", "RSVP", "ASAP",
            "PS", "UK", "USA", "FM", "AM", "PM", "HQ", "IT", "VIP", "NGO", "WiFi", "SMS", "PDF", "HD", "CD")
HEALTH = ("caught a cold", "hurt an ankle", "had a sore throat", "felt dizzy after running", "had a headache",
          "twisted a wrist")
ADVICE = ("rest for a few days", "drink plenty of water", "keep the ankle raised", "take a mild pain reliever",
          "sleep more", "see the doctor again if it gets worse")
INGREDIENTS = ("2 cups of flour", "1 cup of sugar", "3 eggs", "a pinch of salt", "1 cup of milk", "2 spoons of butter",
               "1 onion, chopped", "4 tomatoes", "a handful of basil", "200 grams of rice", "1 carrot, sliced",
               "2 cloves of garlic", "a spoon of olive oil", "1 lemon")
STEPS = ("Mix the dry ingredients in a large bowl.", "Beat the eggs and add them slowly.", "Stir until smooth.",
         "Heat the oven to 180 degrees.", "Cook gently for ten minutes.", "Add the vegetables and stir.",
         "Let it cool before serving.", "Season with salt and pepper.", "Bake for about forty minutes.")


COMMON_WORDS = tuple("""
about above across after again against age allergies also although always among amount and another answer any
arrival away back because before began behind being below between blood body both brief brought but call came care
carefully case cause change changed chest children clear close cold common complaint condition continued course
daily date day days decided decreased department described developed did different discharge discussed down during
each early end ended enough evening every exam examined family felt few final first floor follow following found
free friend full gave general given going good great group had hand happened hard has have head heart heavy held
help her here high him his history home hospital hours however husband illness important improved included
increased instead into kept kind knew known large last later left less level life light little long looked lower
made main make male female many may medical medicine medications might mild minutes month more morning most mother
moved much must name need needed never new next night none normal note now number often old once only open other
over pain part past people per period person physical placed plan present pressure primary problem procedure
procedures reason received recent records remained report reported reports rest result returned review right room
same second secondary section service several severe sex short should showed side since slowly small some soon
stable start started state stay still stopped stronger summary support sure take taken team than that their them
then there these they third this those three through time today together told took total treated treatment twice
two under until upper used usual very visit waited walk walked was week weeks well went were when where which while
who whole wife with within without woman words work worse would year years yesterday young
""".split())


NOUNS = ("house", "road", "window", "river", "child", "teacher", "city", "garden", "book", "letter", "car", "dog",
         "table", "door", "street", "school", "market", "friend", "family", "morning", "week", "story", "song",
         "village",
         "bridge", "meeting", "report", "plan", "question", "answer", "problem", "result", "group", "company", "worker",
         "student", "kitchen", "shop", "bottle", "paper", "light", "tree", "hill", "field", "boat", "train", "doctor",
         "nurse", "patient", "hospital", "clinic", "medicine", "heart", "hand", "head", "voice", "office", "picture",
         "computer", "phone", "number", "letterbox", "neighbour", "visitor", "room", "floor", "wall", "coat", "shoe",
         "glass", "cup", "plate", "bread", "water", "river bank", "forest", "island", "storm", "summer", "winter")
VERBS = ("opened", "closed", "found", "lost", "carried", "painted", "watched", "visited", "called", "asked",
         "answered", "helped", "moved", "cleaned", "fixed", "bought", "sold", "wrote", "read", "brought", "left",
         "started", "finished", "checked", "changed", "followed", "noticed", "described", "explained", "remembered",
         "collected", "measured", "counted", "packed", "shared", "planned", "reported", "received", "sent", "showed",
         "treated", "examined", "admitted", "discharged", "continued", "stopped", "improved", "recorded", "listed")
ADJECTIVES = ("old", "new", "small", "large", "quiet", "busy", "bright", "dark", "warm", "cold", "early", "late",
              "careful", "simple", "strange", "useful", "heavy", "light", "long", "short", "clean", "broken", "open",
              "empty", "full", "green", "red", "blue", "white", "yellow", "local", "public", "private", "special",
              "normal", "serious", "mild", "stable", "recent", "whole", "second", "final", "main", "common", "rare")
ADVERBS = ("slowly", "quickly", "carefully", "quietly", "again", "later", "often", "rarely", "together", "almost",
           "already", "soon", "yesterday", "today", "twice", "daily", "suddenly", "finally", "nearly", "still")
PREPOSITIONS = ("in", "on", "at", "near", "behind", "under", "over", "after", "before", "during", "with", "without",
                "from", "to", "into", "across", "along", "around", "between", "for")
DETERMINERS = ("the", "the", "a", "this", "that", "every", "some", "my", "our", "their", "her", "his", "one", "another")


def _everyday_medical_words() -> tuple[str, ...]:
    """The plain English words (lower case, no shorthand) that the clinical vocabulary is written with.

    General text uses these words too (an encyclopedia, a newspaper, a patient's letter): knowing them is what
    phi-2 brings to clinical notes. The notes' shorthand (HTN, PO, s/p), layout and templates stay out.
    """
    import re

    found: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, str):
            found.update(w for w in re.findall(r"(?<![{\w/])[a-z]{3,}(?![\w/}])", value) if w not in V.ABBREVIATIONS)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    for name in sorted(dir(V)):
        if name.isupper():
            walk(getattr(V, name))
    return tuple(sorted(found))


WORDS_OF_MEDICINE = _everyday_medical_words()


def _noun_phrase(rng: random.Random) -> str:
    """A random noun phrase: determiner, optional adjective, noun (or a name, or a number of things)."""
    roll = rng.random()
    if roll < 0.25:
        return f"{rng.choice(DETERMINERS)} {rng.choice(WORDS_OF_MEDICINE)} {rng.choice(WORDS_OF_MEDICINE)}"
    if roll < 0.12:
        return rng.choice(NAMES)
    if roll < 0.2:
        return f"{rng.randint(2, 60)} {rng.choice(NOUNS)}s"
    adjective = rng.choice(ADJECTIVES) + " " if rng.random() < 0.5 else ""
    det = rng.choice(DETERMINERS)
    if det == "a" and (adjective or rng.choice(NOUNS))[:1] in "aeiou":
        det = "an"
    return f"{det} {adjective}{rng.choice(NOUNS)}"


def _sentence(rng: random.Random) -> str:
    """A random English sentence from a small grammar: varied, grammatical, and not predictable word by word."""
    subject = rng.choice((_noun_phrase(rng), rng.choice(("she", "he", "they", "we", "it", "someone"))))
    verb = rng.choice(VERBS)
    parts = [subject, verb, _noun_phrase(rng)]
    if rng.random() < 0.5:
        parts += [rng.choice(PREPOSITIONS), _noun_phrase(rng)]
    if rng.random() < 0.3:
        parts.append(rng.choice(ADVERBS))
    if rng.random() < 0.25:
        parts += [rng.choice(("and", "but", "because", "while", "so", "when")), rng.choice(("she", "he", "they", "it")),
                  rng.choice(VERBS), _noun_phrase(rng)]
    text = " ".join(parts)
    return text[0].upper() + text[1:] + rng.choice((".", ".", ".", "!", "?", ";"))


def _prose(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """A paragraph or two of varied everyday prose, sometimes under a heading or with a short list."""
    paragraphs = [" ".join(_sentence(rng) for _ in range(rng.randint(2, 6))) for _ in range(rng.randint(1, 3))]
    first = paragraphs[0].split("! ")[0].split("? ")[0].split("; ")[0].split(". ")[0]
    if rng.random() < 0.3:
        paragraphs.insert(0, rng.choice(("Chapter", "Part", "Section", "Notes", "Diary")) + f" {rng.randint(1, 30)}:")
    if rng.random() < 0.2:
        paragraphs.append("\n".join(f"- {_noun_phrase(rng)}" for _ in range(rng.randint(2, 5))))
    return "\n\n".join(paragraphs), [("What does the text begin with?", f"It begins: {first}")]


def _join(items: list[str]) -> str:
    """Return items as an English list ('a, b and c')."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _day(rng: random.Random) -> date:
    """A random date in the 2030s (ISO format in the text, as in the clinical notes)."""
    return date(rng.randint(2030, 2039), 1, 1) + timedelta(days=rng.randint(0, 364))


def _story(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """A short story and questions whose answers are spans of it."""
    who, friend = rng.sample(NAMES, 2)
    he = rng.choice(("he", "she"))
    place, town, items = rng.choice(PLACES), rng.choice(TOWNS), rng.sample(ITEMS, rng.randint(2, 4))
    act, feel, weather, when = rng.choice(ACTIVITIES), rng.choice(FEELINGS), rng.choice(WEATHER), _day(rng)
    animal, job = rng.choice(ANIMALS), rng.choice(JOBS)
    text = (f"On {when.isoformat()}, {who} walked to {place} in {town}. The day was {weather}. "
            f"{who} works as {job} and had a free morning. At {place}, {he} bought {_join(items)}. "
            f"On the way home, {he} met {friend}, and the two of them {act}. "
            f"Later, near the edge of town, they saw {animal}. By the evening {who} felt {feel}.")
    qa = [(f"Where did {who} walk to?", f"{who} walked to {place} in {town}."),
          (f"What did {who} buy?", f"{who} bought {_join(items)}."),
          (f"Who did {who} meet on the way home?", f"{who} met {friend}."),
          (f"When did {who} walk to {place}?", f"On {when.isoformat()}."),
          (f"What does {who} do for work?", f"{who} works as {job}."),
          (f"In the sentence \"By the evening {who} felt {feel}.\", how did {who} feel?", f"{who} felt {feel}."),
          ("What animal did they see?", f"They saw {animal}.")]
    return text, qa


def _event(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """A town notice with dates and a duration, and questions about them."""
    event, town = rng.choice(EVENTS), rng.choice(TOWNS)
    start, days = _day(rng), rng.randint(2, 12)
    end = start + timedelta(days=days)
    host = rng.choice(NAMES)
    text = (f"Notice from the town of {town}.\n{event.capitalize()} opens on {start.isoformat()} and closes on "
            f"{end.isoformat()}, a run of {days} days. It is organised by {host}. Tickets are free for children. "
            f"Please arrive early on the first day.")
    qa = [(f"When does {event} open and close?", f"It opens on {start.isoformat()} and closes on {end.isoformat()}, "
                                                 f"a run of {days} days."),
          (f"How many days does {event} last?", f"{event.capitalize()} lasts {days} days."),
          (f"Who organises {event}?", f"{event.capitalize()} is organised by {host}.")]
    return text, qa


def _glossary(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """A guide that uses short forms, its glossary, and questions about them."""
    forms = rng.sample(sorted(SHORT_FORMS), 4)
    lines = "\n".join(f"- {f}: {SHORT_FORMS[f]}" for f in forms)
    town = rng.choice(TOWNS)
    text = (f"A walking guide to {town}.\nThe route is approx. {rng.randint(3, 15)} km long and takes about "
            f"{rng.randint(2, 5)} hr. Start at the Dept. of Parks on {rng.randint(1, 90)} Main St. "
            f"Short forms used in this guide:\n{lines}")
    qa = [(f"What does the short form '{f}' stand for?", f"'{f}' stands for {SHORT_FORMS[f]}.") for f in forms[:2]]
    return text, qa


def _recipe(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """A recipe with a list of ingredients and steps."""
    dish = rng.choice(("tomato soup", "lemon cake", "vegetable rice", "bread rolls", "pancakes", "onion tart"))
    ingredients, steps = rng.sample(INGREDIENTS, rng.randint(3, 6)), rng.sample(STEPS, 3)
    style = rng.randrange(2)
    listing = "\n".join(f"{i}. {x}" if style else f"- {x}" for i, x in enumerate(ingredients, 1))
    text = f"Recipe: {dish}\n\nIngredients:\n{listing}\n\nMethod:\n" + " ".join(steps)
    qa = [("Which ingredients does the recipe list?", f"The ingredients are: {'; '.join(ingredients)}."),
          ("What is the first step of the method?", steps[0])]
    return text, qa


def _visit(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """An everyday account of seeing a doctor, in plain words (no clinical shorthand)."""
    who, doctor = rng.sample(NAMES, 2)
    problem, advice = rng.choice(HEALTH), rng.sample(ADVICE, 2)
    when, days = _day(rng), rng.randint(2, 9)
    text = (f"Last week {who} {problem}. On {when.isoformat()} {who} went to the doctor, Dr. {doctor}, who listened "
            f"carefully and told {who} to {advice[0]} and to {advice[1]}. After {days} days {who} was feeling much "
            f"better and went back to work.")
    qa = [(f"What did Dr. {doctor} advise?", f"To {advice[0]} and to {advice[1]}."),
          (f"How long did it take {who} to feel better?", f"After {days} days."),
          (f"Explain in other words: '{who} {problem}'.", f"In other words, {who} was unwell: {who} {problem}.")]
    return text, qa


def _letter(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """A short letter to a friend, and its summary."""
    writer, reader = rng.sample(NAMES, 2)
    acts = rng.sample(ACTIVITIES, 2)
    town, weather = rng.choice(TOWNS), rng.choice(WEATHER)
    text = (f"Dear {reader},\nI hope you are well. Here in {town} it has been {weather} all week. On Saturday I "
            f"{acts[0]}, and on Sunday I {acts[1]}. Write back soon and tell me your news.\nBest wishes,\n{writer}")
    qa = [("Summarize the letter in one sentence.",
           f"{writer} writes to {reader} from {town}, where it has been {weather}, and says that {writer} "
           f"{acts[0]} and {acts[1]}.")]
    return text, qa


def _drug_names() -> list[str]:
    """Plain drug names (no doses, no shorthand) from the clinical vocabulary: general knowledge, not notes."""
    meds = {m.split()[0] for c in V.COMORBIDITIES.values() for m in c[4]}
    return sorted(meds)


def _encyclopedia(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """An encyclopedia entry about a condition or a procedure, in full words as general text writes them."""
    condition = rng.choice(sorted({*V.DIAGNOSIS_NAMES.values(), *V.ABBREVIATIONS.values()}))
    procedure = rng.choice(sorted(V.PROCEDURE_NAMES.values()))
    drugs = rng.sample(_drug_names(), 2)
    plain = rng.choice([c[1] for c in V.COMORBIDITIES.values()])
    text = (f"From a health encyclopedia.\n{condition.capitalize()} is a condition that doctors see in clinics and "
            f"hospitals. A patient may be admitted to the hospital when it gets worse. Some people take medicines "
            f"such as {drugs[0]} or {drugs[1]}, and some need a procedure such as "
            f"{procedure[0].lower() + procedure[1:]}. Many people also live with {plain}.")
    qa = [(f"Which medicines does the entry on {condition} name?", f"It names {drugs[0]} and {drugs[1]}."),
          ("Which procedure does the entry mention?", f"It mentions {procedure[0].lower() + procedure[1:]}.")]
    return text, qa


def _hospital_story(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """A family member's plain account of a hospital stay (no clinical shorthand)."""
    relative = rng.choice(("My grandfather", "My aunt", "Our neighbour", "My father", "My mother", "My uncle"))
    town, start, days = rng.choice(TOWNS), _day(rng), rng.randint(2, 14)
    end = start + timedelta(days=days)
    problem = rng.choice([c[1] for c in V.COMORBIDITIES.values()])
    symptom = rng.choice(("chest pain", "a bad cough", "shortness of breath", "a high fever", "stomach pain"))
    drug = rng.choice(_drug_names())
    text = (f"{relative}, who has {problem}, was admitted to the hospital in {town} on {start.isoformat()} with "
            f"{symptom}. The doctors gave {drug} and watched closely. After {days} days, on {end.isoformat()}, "
            f"the family brought everyone home again, tired but grateful to the nurses.")
    qa = [("When was the admission and when did the stay end?",
           f"The admission was on {start.isoformat()} and the stay ended on {end.isoformat()}, after {days} days."),
          ("Which medicine did the doctors give?", f"The doctors gave {drug}.")]
    return text, qa


def _form(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """A filled-in everyday form (a library card, a club sign-up): headers with short values."""
    who, town, when = rng.choice(NAMES), rng.choice(TOWNS), _day(rng)
    kind = rng.choice(("Library card application", "Swimming club sign-up", "Volunteer record", "Bike hire form"))
    age, sex, reason = rng.randint(8, 90), rng.choice("MF"), rng.choice(ACTIVITIES)  # drawn in this order
    notes = rng.choice(("None.", "Prefers mornings.", "Needs a helmet."))
    text = (f"{kind}\nName: {who}  Date: {when.isoformat()}\nAge: {age}  Sex: {sex}\n"
            f"Town: {town}\nReason for visit: {reason}\nNotes: {notes}")
    return text, [("What is the name on the form?", f"The name on the form is {who}.")]


def _word_practice(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """A spelling lesson of common English words (the breadth of ordinary vocabulary general text has)."""
    words = rng.sample(COMMON_WORDS, 12)
    sentences = " ".join(f"{w.capitalize()} is a common word." if i % 3 == 0 else
                         f"We wrote '{w}' in a sentence about {rng.choice(PLACES)}." for i, w in enumerate(words[:6]))
    text = f"Spelling practice, lesson {rng.randint(1, 60)}.\nWords: {', '.join(words)}.\n{sentences}"
    return text, [("Which words are in the lesson?", f"The words are: {'; '.join(words[:6])}.")]


def _notice(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """A notice board of short items: times, prices, room numbers, everyday acronyms and codes."""
    lines = []
    for _ in range(rng.randint(4, 7)):
        a, b = rng.sample(ACRONYMS, 2)
        lines.append(rng.choice((
            f"{rng.choice(EVENTS).capitalize()}: {rng.randint(1, 12)}:{rng.choice(('00', '15', '30', '45'))} "
            f"{rng.choice(('AM', 'PM'))}, room {rng.randint(1, 40)}{rng.choice('ABCD')}.",
            f"Lost {rng.choice(ITEMS)} near {rng.choice(PLACES)}; "
            f"call {rng.randint(100, 999)}-{rng.randint(1000, 9999)}.",
            f"{a} and {b} forms are at the front desk (ask for form {rng.choice('ABCDEFGH')}{rng.randint(1, 99)}).",
            f"Prices up {rng.randint(1, 30)}% at {rng.choice(PLACES)}: {rng.randint(1, 9)}.{rng.randint(0, 99):02d} "
            f"per {rng.choice(('kg', 'bag', 'box', 'dozen'))}.",
            f"{rng.choice(NAMES)} ({rng.randint(18, 90)}) won {rng.choice(EVENTS)} with "
            f"{rng.randint(10, 99)} points.")))
    text = "Notice board, " + rng.choice(TOWNS) + "\n" + "\n".join(f"- {x}" for x in lines)
    return text, [("What is the first item on the board?", lines[0])]


def _mixed(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """Loosely connected sentences over a broad everyday vocabulary (general text is not all templates)."""
    sentences = []
    for _ in range(rng.randint(4, 8)):
        words = rng.sample(COMMON_WORDS, rng.randint(3, 7)) + rng.sample(WORDS_OF_MEDICINE, rng.randint(2, 5))
        rng.shuffle(words)
        sentences.append(" ".join(words).capitalize() + rng.choice((".", ".", ",", ";", "?", "!")))
    return " ".join(sentences), [("How many sentences are there?", f"There are {len(sentences)}.")]


KINDS = (_prose, _prose, _prose, _prose, _prose, _prose, _story, _story, _event, _glossary, _recipe, _visit, _letter,
         _encyclopedia, _hospital_story, _form, _word_practice, _notice, _mixed, _mixed)


def document(rng: random.Random) -> str:
    """One document: a passage, often followed by questions answered from it (a reading exercise)."""
    text, qa = rng.choice(KINDS)(rng)
    if rng.random() < 0.3:
        return text
    picked = rng.sample(qa, min(len(qa), rng.randint(1, 3)))
    exercise = "\n".join(f"Question: {q}\nAnswer: {a}" for q, a in picked)
    return f"Read the text and answer the questions.\n\n{text}\n\n{exercise}"


def general_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` general-domain documents, identical on every machine for the same ``seed``."""
    rng = random.Random(f"general-{seed}")
    return [document(random.Random(rng.getrandbits(64))) for _ in range(n)]
