"""A small GBNF grammar for one skill's arguments, from its JSON schema.

llama-cpp-python's own JSON-schema converter allows any key order, optional whitespace
everywhere and unbounded numbers (it ignores minimum/maximum), so decoding wanders and
every token is checked against a large grammar. This one admits exactly one layout —
``{"key": value, ...}`` in schema order, keys spelled out, strings of bounded length
without escapes — so the model only chooses the values, in few tokens. It covers the
schema subset skill arguments need (object of string/enum/const/integer/number/boolean
properties); anything else raises ``GrammarUnsupported`` and that skill must parse its
own arguments (so does a string pattern richer than character classes and literals).
The result is still validated against the full schema afterwards.
"""
from __future__ import annotations

import json
import re

MAX_STRING = 200


class GrammarUnsupported(ValueError):
    pass


def _literal(text: str) -> str:
    """A GBNF string literal for ``text``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_PIECE = re.compile(r"(\[(?:\\.|[^\]\\])+\]|\\.|[^\\\[\](){}*+?|^$.])(\{\d+(?:,\d+)?\}|[*+?])?")


def _pattern(pattern: str | None) -> str | None:
    """GBNF for an anchored regex made of character classes and literal characters, each
    optionally repeated ({m,n} {n} + * ?): ``^[0-9]{2}:[0-9]{2}$``, ``^[0-9+ ]{1,40}$``.
    None for anything richer (groups, alternation, dot): that needs a parser."""
    if not pattern or not (pattern.startswith("^") and pattern.endswith("$")):
        return None
    body, parts, pos = pattern[1:-1], [], 0
    while pos < len(body):
        m = _PIECE.match(body, pos)
        if not m:
            return None
        atom, rep = m.groups()
        if atom.startswith("["):
            if '"' in atom:
                return None
            gb = atom
        else:
            char = atom[-1] if atom.startswith("\\") else atom
            if atom.startswith("\\") and char.isalnum():
                return None         # \d, \w, \s: write them as classes
            gb = _literal(char)
        if rep == "+":
            rep = f"{{1,{MAX_STRING}}}"
        elif rep == "*":
            rep = f"{{0,{MAX_STRING}}}"
        parts.append(gb + (rep or ""))
        pos = m.end()
    return " ".join(parts) or None


def _value(name: str, schema: dict, rules: dict[str, str]) -> str:
    if "const" in schema:
        return _literal(json.dumps(schema["const"]))
    if "enum" in schema:
        return "(" + " | ".join(_literal(json.dumps(v)) for v in schema["enum"]) + ")"
    kind = schema.get("type")
    if kind == "string":
        if schema.get("pattern"):
            body = _pattern(schema["pattern"])
            if body is None:
                raise GrammarUnsupported(f"{name}: pattern {schema['pattern']!r} is too rich for the argument grammar")
        else:
            low, high = schema.get("minLength", 0), min(MAX_STRING, schema.get("maxLength", MAX_STRING))
            body = f"[^\"\\\\\\x00-\\x1f]{{{low},{high}}}"
        rules[f"{name}-str"] = f'"\\"" {body} "\\""'
        return f"{name}-str"
    if kind in ("integer", "number"):
        biggest = max(abs(schema.get("maximum", 10 ** 9)), abs(schema.get("minimum", 0)))
        width = max(1, len(str(int(biggest))))
        sign = '"-"? ' if schema.get("minimum", -1) < 0 else ""
        frac = ' ("." [0-9]{1,3})?' if kind == "number" else ""
        rules[f"{name}-num"] = f"{sign}[0-9]{{1,{width}}}{frac}"
        return f"{name}-num"
    if kind == "boolean":
        return '("true" | "false")'
    raise GrammarUnsupported(f"{name}: type {kind!r} is not supported by the argument grammar")


def schema_to_gbnf(schema: dict) -> str:
    """GBNF for an object schema: required keys always, optional keys may follow in order."""
    if schema.get("type") != "object":
        raise GrammarUnsupported("arguments must be an object")
    props: dict = schema.get("properties", {})
    required = [k for k in props if k in set(schema.get("required", []))]
    optional = [k for k in props if k not in required]
    rules: dict[str, str] = {}
    pairs = {}
    for key in props:
        rule = re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-") or "p"
        pairs[key] = f"{_literal(json.dumps(key) + ': ')} {_value(rule, props[key], rules)}"
    comma = '", " '
    body = f" {comma}".join(pairs[k] for k in required)
    if required:
        tail = "".join(f" ({comma}{pairs[k]})?" for k in optional)
    elif optional:   # nothing required: the first optional key present opens the list
        tail = f" ({pairs[optional[0]]}" + "".join(f" ({comma}{pairs[k]})?" for k in optional[1:]) + ")?"
    else:
        tail = ""
    root = f'root ::= "{{" {body}{tail} "}}"' if (body or tail) else 'root ::= "{}"'
    return "\n".join([root, *(f"{k} ::= {v}" for k, v in rules.items())])
