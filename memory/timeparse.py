"""Dates in questions and in remembered turns, resolved against the clock of each.

A question's time words ("in May", "last week", "on 3 May 2023", "in 2022") become a
range of timestamps, resolved against the time of asking; a turn's own time words
("yesterday", "last weekend", "two weeks ago") become the range its event happened in,
resolved against when the turn was said. Retrieval boosts turns whose time (or event
time) falls in the question's range, and for "when ..." questions turns that say when
something happened at all: the evidence for "When did Caroline go to the support
group?" is "I went to a support group yesterday", whose date is the session's.

Pure functions, no state: used per query on the ~60 candidate rows (microseconds).
"""
from __future__ import annotations

import calendar
import datetime as dt
import functools
import re

DAY = 86400.0
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS |= {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m and m != "May"}
_MONTH = r"(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)"
_WEEKDAY = r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|wed|thu|thurs?|fri|sat|sun)"
_NUMBER = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
           "eight": 8, "nine": 9, "ten": 10, "few": 3, "couple of": 2, "several": 3}
_COUNT = r"(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|few|couple of|several)"
_UNIT = {"day": 1, "week": 7, "month": 30, "year": 365}

_WHEN_QUESTION = re.compile(
    r"^\s*(when\b|how long\b|what (year|month|date|day|time|week)\b|which (year|month|week|day)\b|"
    r"in which (year|month|week)\b|how many (days|weeks|months|years)\b)", re.I)
# A turn that places something in time: the evidence a "when" question needs.
_TIME_WORDS = re.compile(
    rf"\b(yesterday|today|tonight|tomorrow|(last|this|next|past) (week|weekend|month|year|night|summer|winter|"
    rf"spring|fall|autumn|{_WEEKDAY})|ago|recently|since|(monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?|{_MONTH}|(19|20)\d\d)\b", re.I)

# Any word event_range resolves: a turn without one is indexed as it is, at one regex's cost.
_RELATIVE = re.compile(rf"\b(yesterday|ago|last|the other day|this past|on {_WEEKDAY})\b", re.I)


def is_when_question(text: str) -> bool:
    """"When did ...", "How long ...", "What year ...": the answer is a date or a span."""
    return bool(_WHEN_QUESTION.search(text))


def says_when(text: str) -> bool:
    return bool(_TIME_WORDS.search(text))


def _day(d: dt.date) -> float:
    return dt.datetime(d.year, d.month, d.day).timestamp()


def _month_range(year: int, month: int) -> tuple[float, float]:
    last = calendar.monthrange(year, month)[1]
    return _day(dt.date(year, month, 1)), _day(dt.date(year, month, last)) + DAY


def _month(name: str) -> int:
    name = name.lower()
    return _MONTHS["sep" if name.startswith("sep") else name]


def _explicit_dates(text: str, today: dt.date) -> list[tuple[float, float]]:
    """"3 May 2023", "May 3, 2023", "May 3" (the last such day on or before today)."""
    out = []
    for m in re.finditer(rf"\b(?:(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s*(\d{{4}})?|"
                         rf"{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b,?\s*(\d{{4}})?)", text, re.I):
        day, month, year = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(5), m.group(4), m.group(6))
        month_n = _month(month)
        y = int(year) if year else (today.year if (month_n, int(day)) <= (today.month, today.day) else today.year - 1)
        try:
            d = dt.date(y, month_n, int(day))
        except ValueError:
            continue
        out.append((_day(d), _day(d) + DAY))
    return out


def query_range(text: str, now: float) -> tuple[float, float] | None:
    """The time a question asks about, as [start, end) timestamps, or None.

    Explicit dates win (two of them give the span between); then "in May [2023]",
    "in 2022", "yesterday", "last week/month/year", "N days/weeks ago"."""
    today = dt.datetime.fromtimestamp(now).date()
    t = text.lower()
    dates = _explicit_dates(t, today)
    if dates:
        lo, hi = min(d[0] for d in dates), max(d[1] for d in dates)
        if len(dates) == 1 and re.search(r"\bweek (before|of|after)\b", t):
            lo, hi = lo - 7 * DAY if "before" in t else lo - 3 * DAY, hi + 7 * DAY if "after" in t else hi + 3 * DAY
        return lo, hi
    m = re.search(rf"\b{_MONTH}(?:,?\s+(\d{{4}}))?\b", t)
    if m and not (m.group(1) == "may" and not m.group(2) and not re.search(r"\b(in|during|of|since|early|late|mid) may\b", t)):
        month = _month(m.group(1))
        year = int(m.group(2)) if m.group(2) else (today.year if month <= today.month else today.year - 1)
        return _month_range(year, month)
    m = re.search(r"\b(?:in|during|of|since)\s+((?:19|20)\d\d)\b", t)
    if m:
        y = int(m.group(1))
        return _day(dt.date(y, 1, 1)), _day(dt.date(y + 1, 1, 1))
    if re.search(r"\byesterday\b", t):
        return _day(today) - DAY, _day(today)
    if re.search(r"\blast (week|weekend)\b", t):
        return _day(today) - 14 * DAY, _day(today) + DAY
    if re.search(r"\blast month\b", t):
        first = today.replace(day=1) - dt.timedelta(days=1)
        return _month_range(first.year, first.month)
    if re.search(r"\blast year\b", t):
        return _day(dt.date(today.year - 1, 1, 1)), _day(dt.date(today.year, 1, 1))
    m = re.search(rf"\b{_COUNT} (day|week|month|year)s? ago\b", t)
    if m:
        back = _NUMBER.get(m.group(1)) or int(m.group(1))
        span = _UNIT[m.group(2)]
        centre = _day(today) - back * span * DAY
        return centre - max(1, span // 2) * DAY, centre + max(1, span // 2) * DAY
    return None


@functools.lru_cache(maxsize=8192)        # the same candidate rows come back query after query
def event_range(text: str, ts: float) -> tuple[float, float]:
    """When the thing a turn tells of happened, from its time words and when it was said.

    "yesterday" said on 8 May → 7 May; "last week" → the 14 days before; "two weeks ago"
    → around 24 April; no time words → the day it was said."""
    said = dt.datetime.fromtimestamp(ts).date()
    t = text.lower()
    day = _day(said)
    if re.search(r"\byesterday\b", t):
        return day - DAY, day
    m = re.search(rf"\b{_COUNT} (day|week|month|year)s? ago\b", t)
    if m:
        back = (_NUMBER.get(m.group(1)) or int(m.group(1))) * _UNIT[m.group(2)]
        return day - (back + max(1, back // 4)) * DAY, day - max(0, back - max(1, back // 4)) * DAY + DAY
    if re.search(rf"\blast (week|weekend|{_WEEKDAY})\b|\bthe other day\b|\bon {_WEEKDAY}\b|\bthis past (week|weekend)\b", t):
        return day - 14 * DAY, day + DAY
    if re.search(r"\blast month\b", t):
        first = said.replace(day=1) - dt.timedelta(days=1)
        return _month_range(first.year, first.month)
    if re.search(r"\blast year\b", t):
        return _day(dt.date(said.year - 1, 1, 1)), _day(dt.date(said.year, 1, 1))
    return day, day + DAY


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def date_key(text: str, ts: float) -> str:
    """Words for when a turn's event happened, indexed beside it (a fact-augmented key).

    "I went yesterday", said on 8 May 2023, is also found by "7 May 2023"; "last week"
    by the week's month. "" when the turn has no relative time words (its own date is
    already in its ``doc``). Costs ~20 µs a turn (regexes), so it runs on every write."""
    if not _RELATIVE.search(text):
        return ""
    lo, hi = event_range(text, ts)
    said = dt.datetime.fromtimestamp(ts).date()
    if hi - lo <= DAY and dt.datetime.fromtimestamp(lo).date() == said:
        return ""
    first, last = dt.datetime.fromtimestamp(lo).date(), dt.datetime.fromtimestamp(hi - 1).date()
    if first == last:
        return f"[on {first.day} {first:%B %Y}]"
    months = sorted({f"{d:%B %Y}" for d in (first, last)}, key=lambda m: dt.datetime.strptime(m, "%B %Y"))
    return f"[in {' / '.join(months)}]"
