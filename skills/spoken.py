"""Text as people say it: numbers and durations ("twenty five", "an hour and a half"),
and the user's own words turned to them ("my sister" → "your sister").

Speech recognition writes numbers either as digits or as words, so every deterministic
argument parser first runs the text through ``digits``; a small model guessing these
values would be slower and less reliable than these few rules.
"""
from __future__ import annotations

import re

UNITS = {"zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
         "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
         "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
         "nineteen": 19}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
        "seventy": 70, "eighty": 80, "ninety": 90}
SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
ARTICLES = {"a": 1, "an": 1}
FRACTIONS = {"half": 0.5, "quarter": 0.25}

_NUMBER_WORD = "|".join(sorted([*UNITS, *TENS, *SCALES], key=len, reverse=True))
# A run of number words ("one hundred and twenty five"), joined by spaces, hyphens or "and".
_RUN = re.compile(rf"\b(?:{_NUMBER_WORD})(?:(?:[\s-]+|\s+and\s+)(?:{_NUMBER_WORD}))*\b", re.I)


def words_to_number(words: str) -> int | None:
    """"one hundred and twenty-five" → 125; None when it is not a number in words."""
    total, current, seen = 0, 0, False
    for w in re.split(r"[\s-]+", words.lower().strip()):
        if w == "and" and seen:
            continue
        if w in UNITS:
            current += UNITS[w]
        elif w in TENS:
            current += TENS[w]
        elif w in SCALES:
            scale = SCALES[w]
            if scale == 100:
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * scale
                current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


def _join_runs(text: str) -> str:
    def repl(m: re.Match) -> str:
        # "and" belongs inside a number only after a scale word ("three hundred and
        # fifty"); elsewhere it separates two numbers ("fifty and one hundred").
        pieces = re.split(r"(?<!hundred)(?<!thousand)(?<!million)(\s+and\s+)", m.group(0), flags=re.I)
        return "".join(p if re.fullmatch(r"\s+and\s+", p, re.I) else one(p) for p in pieces)

    def one(run: str) -> str:
        # "five ten" is two numbers (a time, or a list), not 15: only join a run when it
        # reads as one number, else convert word by word.
        value = words_to_number(run)
        parts = re.split(r"(\s+and\s+|[\s-]+)", run)
        if value is not None and _one_number(run):
            return str(value)
        return "".join(str(words_to_number(p)) if words_to_number(p) is not None else p for p in parts)
    return _RUN.sub(repl, text)


def _one_number(run: str) -> bool:
    """True when the words form a single number: no unit after a unit, no ten after a unit."""
    prev = None
    for w in re.split(r"[\s-]+", run.lower()):
        if w == "and":
            continue
        kind = "unit" if w in UNITS else "tens" if w in TENS else "scale"
        if prev in ("unit", "tens") and kind in ("unit", "tens") and not (prev == "tens" and kind == "unit"):
            return False
        prev = kind
    return True


def digits(text: str) -> str:
    """Rewrite numbers in words as digits: "in twenty five minutes" → "in 25 minutes"."""
    text = re.sub(r"(\d),(\d{3})\b", r"\1\2", text)           # 1,000 → 1000
    text = re.sub(r"\ban? (hundred|thousand|million)\b", r"one \1", text, flags=re.I)
    return _join_runs(text)


_UNIT_SECONDS = {"second": 1, "sec": 1, "s": 1, "minute": 60, "min": 60, "m": 60, "hour": 3600,
                 "hr": 3600, "h": 3600, "day": 86400, "week": 604800}
_UNIT = r"(seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?)\b"
_NUM = r"(\d+(?:\.\d+)?)"


def _unit_seconds(unit: str) -> int:
    unit = unit.lower()
    unit = unit[:-1] if unit.endswith("s") and unit not in ("s",) else unit
    return _UNIT_SECONDS[unit]


def parse_duration(text: str) -> int | None:
    """Total seconds of every duration phrase in ``text``, or None when there is none.

    Handles "10 minutes", "an hour and a half", "half an hour", "a quarter of an hour",
    "1.5 hours", "2 hours and 15 minutes", "a couple of minutes", "90 secs".
    """
    t = digits(text.lower())
    t = re.sub(r"\ba couple of\b", "2", t)
    t = re.sub(r"\ba few\b", "3", t)
    total = 0.0
    found = False
    # "half an hour", "a quarter of an hour", "three quarters of an hour"
    for m in re.finditer(r"\b(?:(\d+) quarters|(a |one )?(half|quarter))(?: of)? an? " + _UNIT, t):
        frac = 0.75 * int(m.group(1)) / 3 if m.group(1) else FRACTIONS[m.group(3)]
        total += frac * _unit_seconds(m.group(4))
        found = True
    t = re.sub(r"\b(?:\d+ quarters|(?:a |one )?(?:half|quarter))(?: of)? an? " + _UNIT, " ", t)
    # "5 and a half minutes"
    for m in re.finditer(rf"\b{_NUM} and a (half|quarter) {_UNIT}", t):
        total += (float(m.group(1)) + FRACTIONS[m.group(2)]) * _unit_seconds(m.group(3))
        found = True
    t = re.sub(rf"\b{_NUM} and a (?:half|quarter) {_UNIT}", " ", t)
    # "an hour and a half", "2 minutes and a half"
    for m in re.finditer(rf"\b(?:{_NUM}|an?) {_UNIT} and a (half|quarter)\b", t):
        n = float(m.group(1)) if m.group(1) else 1.0
        total += (n + FRACTIONS[m.group(3)]) * _unit_seconds(m.group(2))
        found = True
    t = re.sub(rf"\b(?:{_NUM}|an?) {_UNIT} and a (?:half|quarter)\b", " ", t)
    # "10 minutes", "a minute", "1.5 hours", "90s"
    for m in re.finditer(rf"\b(?:{_NUM}|an?)\s*-?\s*{_UNIT}", t):
        n = float(m.group(1)) if m.group(1) else 1.0
        total += n * _unit_seconds(m.group(2))
        found = True
    return int(round(total)) if found and total > 0 else None


def say_duration(seconds: int, adjective: bool = False) -> str:
    """12 → "12 seconds", 5400 → "1 hour and 30 minutes"; as an adjective, "5 minute"."""
    parts = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n} {name}{'s' if n != 1 and not adjective else ''}")
    if not parts:
        return "0 seconds"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


_FLIP = {"i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself", "am": "are",
         "i'm": "you're", "i've": "you've", "i'll": "you'll", "i'd": "you'd", "we": "you", "our": "your",
         "us": "you", "ours": "yours"}


def second_person(text: str) -> str:
    """"my sister" → "your sister": a small model answers the user far better from notes
    written to them than from notes in the user's own first person."""
    def swap(m: re.Match) -> str:
        word = m.group(0)
        new = _FLIP.get(word.lower(), word)
        capital = word[0].isupper() and (m.start() == 0 or not word.lower().startswith("i"))
        return new[0].upper() + new[1:] if capital else new
    return re.sub(r"\b[A-Za-z]+(?:'[a-z]+)?\b", swap, text)
