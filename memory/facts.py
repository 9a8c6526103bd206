"""Explicit facts and when a newer one replaces an older one.

A fact like "my sister Anna's birthday is March 14" has a subject ("my sister Anna's
birthday"), a single-valued relation ("is") and a value. A later fact with a compatible
subject and the same relation but another value — "actually her birthday is March 15" —
contradicts it: the newer wins and the older is marked superseded (kept, not deleted).

The subject match is deliberately narrow (same head noun, compatible owner, the same
relation) because superseding the wrong fact loses something true; facts that do not
parse as "X is Y" or "X lives in Y" never supersede anything.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_LEAD = re.compile(r"^(?:(?:actually|no|oh|and|also|correction|sorry|wait|update|so|well)\b[\s,:;.!-]*)+", re.I)
_RELATIONS = [  # (pattern, relation name): single-valued relations only
    (r"(?:is|are|was|were|am)(?:\s+now)?", "be"),
    (r"(?:now\s+)?(?:lives?|living)\s+(?:in|at)", "live"),
    (r"(?:now\s+)?(?:works?|working)\s+(?:at|for|as)", "work"),
    (r"(?:moved|moves)\s+to", "live"),
    (r"(?:parked|park)\s+(?:on|in|at)", "park"),
    (r"(?:is|are)\s+(?:called|named)", "name"),
]
_SPLIT = re.compile(r"^(?P<subj>.+?)\s+(?P<rel>" + "|".join(f"(?:{p})" for p, _ in _RELATIONS) + r")\s+(?P<val>.+)$", re.I)
_PRONOUN_OWNERS = {"her", "his", "their", "its"}
_FIRST_PERSON = {"my", "our", "i", "me", "we", "mine"}
_BARE = {"i", "we", "you", "he", "she", "they", "it", "this", "that", "there"}
_DROP = {"the", "a", "an"}


@dataclass(frozen=True)
class Subject:
    head: str                   # "birthday"
    owner: tuple[str, ...]      # ("my", "sister", "anna")
    relation: str               # "be"
    value: str                  # "march 15"

    def key(self) -> str:
        return f"{self.relation}|{self.head}|{' '.join(self.owner)}"


def clean(text: str) -> str:
    """The fact as it will be stored: no leading "actually," and no trailing full stop."""
    text = _LEAD.sub("", text.strip()).strip()
    return text.rstrip(" .!")


def _words(text: str) -> list[str]:
    text = re.sub(r"'s\b", " ", text.lower())
    return [w for w in re.findall(r"[a-z0-9]+", text) if w not in _DROP]


def parse(fact: str) -> Subject | None:
    m = _SPLIT.match(clean(fact))
    if not m:
        return None
    rel_text = m.group("rel").lower()
    relation = next(name for p, name in _RELATIONS if re.fullmatch(p, rel_text, re.I))
    subj = _words(m.group("subj"))
    if not subj:
        return None
    if relation == "be" and subj[-1] in _BARE:
        return None     # "I am tired" says nothing single-valued about a thing
    head = subj[-1].rstrip("s") if len(subj[-1]) > 3 else subj[-1]
    return Subject(head, tuple(subj[:-1]), relation, " ".join(_words(m.group("val"))))


def _owners_match(new: tuple[str, ...], old: tuple[str, ...]) -> bool:
    """Same owner: "my" = "my", "my sister" ~ "my sister anna", "her" ~ anyone but me."""
    new_core, old_core = set(new) - _FIRST_PERSON, set(old) - _FIRST_PERSON
    if new_core and new_core <= _PRONOUN_OWNERS:
        return bool(old_core)
    if not new_core or not old_core:
        return not new_core and not old_core
    return new_core <= old_core or old_core <= new_core


def superseded(new_fact: str, old_facts: list[tuple[str, str, float]]) -> list[str]:
    """Ids of the facts ``new_fact`` replaces, from (id, text, ts) of the active facts."""
    new = parse(new_fact)
    if not new:
        return []
    matches = []
    for fid, text, ts in old_facts:
        old = parse(text)
        if old and old.relation == new.relation and old.head == new.head and _owners_match(new.owner, old.owner):
            matches.append((ts, fid))
    if not matches:
        return []
    if new.owner and new.owner[0] in _PRONOUN_OWNERS:
        return [max(matches)[1]]        # "her birthday": the most recent one it can mean
    return [fid for _, fid in matches]


def resolve(new_fact: str, old_fact: str) -> str:
    """ "her birthday is March 15" replacing "my sister Anna's birthday is March 14" is
    stored as "my sister Anna's birthday is March 15": a fact must stand on its own."""
    new, old = _SPLIT.match(clean(new_fact)), _SPLIT.match(clean(old_fact))
    parsed = parse(new_fact)
    if not (new and old and parsed and parsed.owner and parsed.owner[0] in _PRONOUN_OWNERS):
        return clean(new_fact)
    return f"{old.group('subj')} {new.group('rel')} {new.group('val')}"
