"""Spoken arithmetic → an expression → a safe evaluator (skills/arithmetic.py), no eval."""
import re

from skills.arithmetic import ArithmeticError_, evaluate, say_number
from skills.spoken import digits

_NUM = r"-?\d+(?:\.\d+)?"
_WORDS = [  # (pattern, replacement) applied in order to lower-case text with digits
    (r"\bsquare root of\s+(" + _NUM + r")", r" sqrt(\1) "),
    (r"\bcube root of\s+(" + _NUM + r")", r" (\1) ^ (1/3) "),
    (rf"({_NUM})\s*(?:%|percent|per cent)\s+of\s+({_NUM})", r" \1 / 100 * \2 "),
    (rf"\bhalf of\s+({_NUM})", r" \1 / 2 "),
    (rf"\bsubtract\s+({_NUM})\s+from\s+({_NUM})", r" \2 - \1 "),
    (rf"\btake\s+({_NUM})\s+(?:away\s+)?from\s+({_NUM})", r" \2 - \1 "),
    (rf"\b(?:add|sum of|the sum of)\s+({_NUM})\s+(?:and|to|plus)\s+({_NUM})", r" \1 + \2 "),
    (rf"\bmultiply\s+({_NUM})\s+(?:by|and|times)\s+({_NUM})", r" \1 * \2 "),
    (rf"\bdivide\s+({_NUM})\s+(?:by|into)\s+({_NUM})", r" \1 / \2 "),
    (rf"\bproduct of\s+({_NUM})\s+and\s+({_NUM})", r" \1 * \2 "),
    (r"\bto the power of\b|\braised to(?: the power of)?\b|\bto the\b", " ^ "),
    (r"\bsquared\b", " ^ 2 "), (r"\bcubed\b", " ^ 3 "),
    (r"\bplus\b|\badded to\b|\band\b", " + "), (r"\bminus\b|\btake away\b|\bless\b", " - "),
    (r"\btimes\b|\bmultiplied by\b|\bx\b|×", " * "), (r"\bdivided by\b|\bover\b|÷", " / "),
]


# Words that may surround the arithmetic; any other word means it is not a sum to do
# ("I have 3 apples and 2 pears", "what happened in 1066").
_FILLER = {"what", "whats", "what's", "is", "how", "much", "many", "calculate", "compute", "work", "out", "can",
           "could", "you", "please", "equal", "equals", "tell", "me", "the", "answer", "result", "of", "do", "does",
           "hey", "ok", "okay", "quick", "maths", "math", "question", "i", "need", "to", "know", "figure", "whats",
           "solve", "give", "get", "and", "by", "from", "what's", "s"}


def parse(text: str):
    t = digits(text.lower()).replace(",", "")
    for pattern, repl in _WORDS:
        t = re.sub(pattern, repl, t)
    if set(re.findall(r"[a-z']+", t.replace("sqrt", " "))) - _FILLER:
        return None
    expr = " ".join(re.findall(r"sqrt|\d+(?:\.\d+)?|[-+*/^()]", t))
    expr = re.sub(r"sqrt \( ", "sqrt(", expr).replace(" )", ")").replace("( ", "(")
    expr = re.sub(r"\((\d+(?:\.\d+)?)\)", r"\1", expr) if not expr.startswith("sqrt") else expr
    if not re.search(r"\d", expr) or not re.search(r"[-+*/^]|sqrt", expr):
        return None
    try:
        evaluate(expr)
    except (ArithmeticError_, ZeroDivisionError):
        if "/ 0" not in expr:
            return None
    return {"expression": expr}


def _spoken(expr: str) -> str:
    words = {"+": "plus", "-": "minus", "*": "times", "/": "divided by", "^": "to the power of"}
    text = re.sub(r"sqrt\(([^)]*)\)", r"the square root of \1", expr)
    text = re.sub(r"(\S+) / 100 \* (\S+)", r"\1 percent of \2", text)
    return " ".join(words.get(tok, tok) for tok in text.split())


def run(args: dict, ctx) -> str:
    expr = args["expression"]
    try:
        value = evaluate(expr)
    except ZeroDivisionError:
        return "That has no answer: you can't divide by zero."
    except ArithmeticError_ as e:
        return f"I can't work that out: {e}."
    return f"{_spoken(expr)[0].upper() + _spoken(expr)[1:]} is {say_number(value)}."
