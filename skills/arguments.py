"""Fill a chosen skill's arguments, and guarantee they satisfy its JSON schema.

Two ways, cheapest first:

1. the handler's own ``parse(text)``: deterministic rules for what speech says in a
   handful of shapes (durations, numbers in words, "call me Sam"); microseconds;
2. the local LLM under a small GBNF grammar built from the skill's parameters
   (``skills/grammar.py``), shown the skill's described arguments and its worked
   examples; used when there is no parser or it found nothing.

Either way the result is validated against the full schema before any handler sees
it; what fails is a ``BadArguments``, which the caller turns into a spoken apology.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from jsonschema import Draft202012Validator

from .grammar import GrammarUnsupported, schema_to_gbnf
from .spec import SkillDoc

log = logging.getLogger(__name__)


class BadArguments(Exception):
    """No arguments that satisfy the skill's schema could be found for what was said."""


@dataclass(frozen=True)
class Filled:
    args: dict
    source: str             # "parser" | "llm" | "none"
    ms: float
    llm_output: str = ""


def problems(schema: dict, args: object) -> list[str]:
    """Every way ``args`` breaks ``schema`` (empty when valid)."""
    return [f"{'.'.join(map(str, e.absolute_path)) or 'arguments'}: {e.message}"
            for e in Draft202012Validator(schema).iter_errors(args)]


def _describe(doc: SkillDoc) -> str:
    lines = []
    props = doc.parameters.get("properties", {})
    for key, prop in props.items():
        kind = "one of " + ", ".join(json.dumps(v) for v in prop["enum"]) if "enum" in prop else prop.get("type", "")
        need = "required" if key in doc.parameters.get("required", []) else "optional"
        lines.append(f"- {key} ({kind}, {need}): {prop.get('description', '')}".rstrip(": "))
    return "\n".join(lines)


def llm_messages(doc: SkillDoc, text: str) -> list[dict]:
    shots = "".join(f"User: {e.text}\nJSON: {json.dumps(e.args)}\n\n" for e in doc.arg_examples[:6])
    prompt = (f"Skill: {doc.name}. {doc.description}\nArguments:\n{_describe(doc)}\n\n"
              f"{shots}User: {text}\nJSON:")
    return [{"role": "system", "content": "You turn a spoken request into the JSON arguments of a skill. "
             "Use only what the user said; leave out optional arguments they did not mention."},
            {"role": "user", "content": prompt}]


def fill(doc: SkillDoc, text: str, parse=None, llm=None, use_parser: bool = True) -> Filled:
    """Arguments for ``doc`` from ``text``, valid against ``doc.parameters``, or ``BadArguments``."""
    started = time.perf_counter()
    schema = doc.parameters
    if not schema.get("properties") and not schema.get("required"):
        return Filled({}, "none", 0.0)
    if parse is not None and use_parser:
        try:
            args = parse(text)
        except Exception:               # a parser bug: fall back to the model, but say so
            log.exception("argument parser of skill %s failed on %r", doc.name, text)
            args = None
        if args is not None:
            wrong = problems(schema, args)
            if not wrong:
                return Filled(args, "parser", (time.perf_counter() - started) * 1000)
            log.warning("skill %s: parser gave invalid arguments %s (%s)", doc.name, args, wrong[0])
    if llm is None:
        raise BadArguments(f"skill {doc.name}: no arguments found in {text!r}")
    try:
        grammar = schema_to_gbnf(schema)
    except GrammarUnsupported as e:
        raise BadArguments(f"skill {doc.name}: its parameters need a parse() in its handler ({e})")
    raw = llm.constrained(llm_messages(doc, text), grammar, max_tokens=96, prefix_key=f"{doc.name}:{doc.sha256}")
    ms = (time.perf_counter() - started) * 1000
    try:
        args = json.loads(raw)
    except json.JSONDecodeError:        # the token budget ran out inside the grammar
        raise BadArguments(f"skill {doc.name}: model output is not complete JSON: {raw!r}")
    wrong = problems(schema, args)
    if wrong:
        raise BadArguments(f"skill {doc.name}: model arguments {raw} are invalid ({wrong[0]})")
    return Filled(args, "llm", ms, raw)
