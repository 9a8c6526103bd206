"""Text normalisation for WER: lower case, no punctuation, numbers spelled out."""
from __future__ import annotations

import re

ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen " \
       "fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
           "nine": "ninth", "twelve": "twelfth"}


def cardinal(n: int) -> str:
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + cardinal(rest))
    if n < 1_000_000:
        rest = n % 1000
        return cardinal(n // 1000) + " thousand" + ("" if rest == 0 else " " + cardinal(rest))
    return " ".join(ONES[int(d)] for d in str(n))


def year(n: int) -> str:
    if 1100 <= n <= 1999 and n % 100 != 0:
        hi, lo = divmod(n, 100)
        return cardinal(hi) + " " + (("oh " + ONES[lo]) if lo < 10 else cardinal(lo))
    return cardinal(n)


def ordinal(n: int) -> str:
    words = cardinal(n).split()
    last = words[-1]
    if last in ORDINAL:
        words[-1] = ORDINAL[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def normalize(text: str) -> str:
    text = text.lower()
    text = re.sub(r"\bmr\.?(?=\s)", "mister", text)
    text = re.sub(r"\bmrs\.?(?=\s)", "missus", text)
    text = re.sub(r"\bdr\.?(?=\s)", "doctor", text)
    text = text.replace("&", " and ").replace("%", " percent")
    text = re.sub(r"(\d),(\d{3})", r"\1\2", text)
    text = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: ordinal(int(m.group(1))), text)
    text = re.sub(r"\b\d+\b", lambda m: year(int(m.group(0))), text)
    text = re.sub(r"[-‐–—]", " ", text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    text = re.sub(r"'(?![a-z])|(?<![a-z])'", " ", text)
    return " ".join(text.split())


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    """(edit distance in words, reference length) after normalisation."""
    r, h = normalize(ref).split(), normalize(hyp).split()
    prev = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        cur = [i] + [0] * len(h)
        for j, hw in enumerate(h, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rw != hw))
        prev = cur
    return prev[-1], len(r)
