"""Safe arithmetic: a tokenizer and a recursive-descent parser, never ``eval``.

Only numbers, + - * / ^ ( ) and sqrt() exist in this language, so whatever text reaches
it, from speech or from the model, can at worst be rejected. Results are kept finite:
huge powers are refused rather than computed.
"""
from __future__ import annotations

import math
import re

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?|\.\d+)|(sqrt)|(.))")


class ArithmeticError_(ValueError):
    pass


def tokens(expr: str) -> list[str]:
    out = []
    for m in _TOKEN.finditer(expr.strip()):
        number, func, other = m.groups()
        if number:
            out.append(number)
        elif func:
            out.append(func)
        elif other and other.strip():
            if other not in "+-*/^()":
                raise ArithmeticError_(f"unexpected {other!r}")
            out.append(other)
    return out


class _Parser:
    def __init__(self, toks: list[str]) -> None:
        self.toks, self.i = toks, 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, want=None):
        tok = self.peek()
        if tok is None or (want and tok != want):
            raise ArithmeticError_(f"expected {want or 'more'}")
        self.i += 1
        return tok

    def expr(self) -> float:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> float:
        value = self.power()
        while self.peek() in ("*", "/"):
            if self.take() == "*":
                value *= self.power()
            else:
                divisor = self.power()
                if divisor == 0:
                    raise ZeroDivisionError("division by zero")
                value /= divisor
        return value

    def power(self) -> float:
        base = self.unary()
        if self.peek() == "^":
            self.take()
            exponent = self.power()
            if abs(exponent) > 1000 or (abs(base) > 1 and abs(exponent) * math.log10(abs(base)) > 300):
                raise ArithmeticError_("too large")
            return base ** exponent
        return base

    def unary(self) -> float:
        if self.peek() == "-":
            self.take()
            return -self.unary()
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.atom()

    def atom(self) -> float:
        tok = self.take()
        if tok == "(":
            value = self.expr()
            self.take(")")
            return value
        if tok == "sqrt":
            self.take("(")
            value = self.expr()
            self.take(")")
            if value < 0:
                raise ArithmeticError_("square root of a negative number")
            return math.sqrt(value)
        try:
            return float(tok)
        except ValueError:
            raise ArithmeticError_(f"unexpected {tok!r}")


def evaluate(expr: str) -> float:
    parser = _Parser(tokens(expr))
    value = parser.expr()
    if parser.peek() is not None:
        raise ArithmeticError_(f"unexpected {parser.peek()!r}")
    if isinstance(value, complex) or math.isnan(value) or math.isinf(value):
        raise ArithmeticError_("no real result")
    return value


def say_number(value: float) -> str:
    if abs(value - round(value)) < 1e-9 and abs(value) < 1e15:
        return f"{int(round(value)):,}".replace(",", " ") if abs(value) >= 10000 else str(int(round(value)))
    text = f"{value:.6g}"
    return text if "e" not in text else f"{value:.4e}"
