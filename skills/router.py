"""Pick the skill an utterance asks for, or none: recognisers first, then examples.

Measured on this project's data, sentence embeddings (all-MiniLM-L6-v2) are dominated
by an utterance's content, not its form: "make a note that the spare key is under the
mat" and the doc example "make a note that the plumber comes on Friday" score 0.11. So
similarity to example utterances alone cannot tell a request from conversation when
the request carries free content (facts, messages, numbers). Two kinds of evidence:

1. **Recognisers.** A handler's ``parse(text)`` returns the arguments when the text
   has the form of a request for that skill, else None. Parsers are cheap (µs) and
   precise about form. When several accept, the one whose examples the utterance is
   most similar to wins. A counter-example (a listed near miss) almost identical to the
   utterance still vetoes.
2. **Examples.** Skills without a parser (typically the user's own) are chosen by
   nearest example: at least ``route_min_relevance`` similar, ``route_margin`` ahead of
   every other doc, no counter-example as close. Their arguments then come from the
   grammar-constrained LLM.

A skill whose parser refused is never chosen by similarity alone: "my sister's birthday
is on March 14th" is 0.93 similar to a remember example but is a statement, not a
request. Everything else is conversation and goes to the LLM.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np

from .registry import HandlerError, SkillRegistry
from .spec import SkillDoc

log = logging.getLogger(__name__)

COUNTER_VETO = 0.85     # a counter-example this similar vetoes even a recognised request
VOCATIVE = re.compile(r"^\s*(?:hey|hi|hello|ok|okay)\s+[a-z]+\s*[,!:]\s*", re.I)


@dataclass(frozen=True)
class Route:
    doc: SkillDoc | None        # None: no skill
    relevance: float            # similarity of the chosen (or best) doc's closest example
    runner_up: float            # best row of any other doc, or of a counter-example
    matched: str                # the example (or counter-example) that decided it
    reason: str                 # "parser" | "examples" | "below threshold" | "counter-example" | "ambiguous"
    parsed: dict | None = None  # what the recogniser returned, when it decided

    def as_dict(self) -> dict:
        return {"skill": self.doc.name if self.doc else None, "relevance": round(self.relevance, 3),
                "runner_up": round(self.runner_up, 3), "matched": self.matched, "reason": self.reason}


class Router:
    def __init__(self, registry: SkillRegistry, min_relevance: float, margin: float) -> None:
        self.registry, self.min_relevance, self.margin = registry, min_relevance, margin

    def _recognised(self, text: str) -> dict[str, dict]:
        """path → arguments, for every skill whose parser accepts the text."""
        text = VOCATIVE.sub("", text)       # "hey Juniper, what time is it"
        found = {}
        for path, doc in self.registry.docs.items():
            if not doc.handler:
                continue
            try:
                args = self.registry.parse(doc, text)
            except HandlerError as e:
                log.debug("%s", e)  # reported when the skill is chosen; cannot recognise meanwhile
                continue
            except Exception:       # a parser bug must not break the turn
                log.exception("parser of skill %s failed on %r", doc.name, text)
                continue
            if args is not None and args is not NotImplemented:
                found[path] = args
        return found

    def route(self, vector: np.ndarray, text: str = "") -> Route:
        rows, vectors = self.registry.rows, self.registry.vectors
        if not rows:
            return Route(None, 0.0, 0.0, "", "below threshold")
        sims = vectors @ vector.astype(np.float32)
        best: dict[str, tuple[float, int]] = {}
        counter, counter_i = -1.0, -1
        for i, (row, sim) in enumerate(zip(rows, sims)):
            if row["kind"] == "counter":
                if sim > counter:
                    counter, counter_i = float(sim), i
            elif sim > best.get(row["path"], (-2.0, -1))[0]:
                best[row["path"]] = (float(sim), i)
        docs = self.registry.docs
        recognised = self._recognised(text) if text else {}
        if recognised:
            path = max(recognised, key=lambda p: best.get(p, (-1.0, -1))[0])
            sim, i = best.get(path, (-1.0, -1))
            other = max((s for p, (s, _) in best.items() if p != path), default=-1.0)
            if counter >= COUNTER_VETO and counter > sim:
                return Route(None, sim, counter, rows[counter_i]["row_text"], "counter-example")
            return Route(docs[path], sim, max(other, counter), rows[i]["row_text"] if i >= 0 else "",
                         "parser", recognised[path])
        ranked = sorted(best.items(), key=lambda kv: kv[1][0], reverse=True)
        path, (top, top_i) = ranked[0]
        other = ranked[1][1][0] if len(ranked) > 1 else -1.0
        runner_up = max(other, counter)
        doc = docs.get(path)
        matched = rows[top_i]["row_text"]
        if doc is None or not doc.handler or top < self.min_relevance:
            return Route(None, top, runner_up, matched, "below threshold")
        try:
            has_parser = hasattr(self.registry.handler(doc), "parse")
        except HandlerError:
            has_parser = False      # chosen anyway: the dispatcher reports the broken handler
        if has_parser:
            return Route(None, top, runner_up, matched, "below threshold")   # its parser said no
        if counter > top - self.margin:
            return Route(None, top, runner_up, rows[counter_i]["row_text"], "counter-example")
        if other > top - self.margin:
            return Route(None, top, runner_up, matched, "ambiguous")
        return Route(doc, top, runner_up, matched, "examples")
