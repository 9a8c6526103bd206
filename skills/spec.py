"""A skill doc on disk: markdown with YAML front matter, and an optional handler beside it.

```
---
name: set_reminder                 # identifier used in tool calls and logs
description: Set a timer or a reminder that I announce when it is due.
summary: set timers and reminders  # how "what can you do?" lists it
parameters: {JSON schema of the arguments, an object}
examples:                          # utterances that mean this skill (the router's evidence)
  - remind me in ten minutes to check the oven
  - text: set a timer for five minutes      # an example may carry its arguments,
    args: {seconds: 300, kind: timer}       # shown to the LLM when it fills them
counter_examples:                  # near misses that must NOT trigger it
  - what time does the bakery open
needs: [reminders]                 # the only APIs the handler is given
confirm: Are you sure?             # ask this first and act only on a spoken yes
---
# Title
Body: what the LLM reads when the doc is retrieved into a chat prompt.
```

``set_reminder.py`` beside the doc makes it a skill that acts; a doc without a handler
is knowledge only (it is retrieved into the prompt, never invoked).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from assistant.errors import AssistantError

EMPTY_PARAMETERS = {"type": "object", "properties": {}, "additionalProperties": False}
KNOWN_KEYS = {"name", "description", "summary", "parameters", "examples", "counter_examples",
              "needs", "confirm"}
CAPABILITIES = {"clock", "reminders", "memory", "settings", "skills"}


class SkillDocError(AssistantError):
    """A skill doc whose front matter cannot be used."""


@dataclass(frozen=True)
class ArgExample:
    text: str
    args: dict


@dataclass(frozen=True)
class SkillDoc:
    path: str
    title: str
    text: str
    sha256: str
    description: str = ""
    examples: tuple[str, ...] = ()
    name: str = ""
    summary: str = ""
    parameters: dict = field(default_factory=lambda: dict(EMPTY_PARAMETERS), compare=False)
    arg_examples: tuple[ArgExample, ...] = ()
    counter_examples: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    confirm: str = ""
    handler: str = ""               # path of the handler module, "" = knowledge only

    def index_texts(self) -> list[tuple[str, str]]:
        """(kind, text) rows: what the doc is about, what means it, what does not."""
        return [("about", f"{self.title}. {self.description}".strip()),
                *(("example", e) for e in self.examples),
                *(("counter", c) for c in self.counter_examples)]


def front_matter(raw: str) -> tuple[dict, str]:
    m = re.match(r"^---\n(.*?)\n---\n?", raw, flags=re.S)
    if not m:
        return {}, raw
    meta = yaml.safe_load(m.group(1)) or {}
    if not isinstance(meta, dict):
        raise ValueError("front matter is not a mapping")
    return meta, raw[m.end():]


def _fail(path: Path, what: str) -> SkillDocError:
    return SkillDocError(f"skill doc {path}: {what}")


def read_doc(path: Path) -> SkillDoc:
    """Parse and check one doc; a malformed one is a ``SkillDocError`` naming the fix."""
    raw = path.read_text(encoding="utf-8")
    try:
        meta, body = front_matter(raw)
    except (yaml.YAMLError, ValueError) as e:
        raise _fail(path, f"invalid front matter ({str(e).splitlines()[0]}); fix the YAML between the --- lines")
    unknown = set(meta) - KNOWN_KEYS
    if unknown:
        raise _fail(path, f"unknown front matter key {sorted(unknown)[0]!r}; use {', '.join(sorted(KNOWN_KEYS))}")
    heading = re.search(r"^#\s+(.+)$", body, flags=re.M)
    name = str(meta.get("name") or path.stem)
    title = heading.group(1).strip() if heading else name.replace("_", " ")
    parameters = meta.get("parameters") or dict(EMPTY_PARAMETERS)
    try:
        Draft202012Validator.check_schema(parameters)
    except SchemaError as e:
        raise _fail(path, f"parameters is not a valid JSON schema ({e.message}); fix it")
    if parameters.get("type") != "object":
        raise _fail(path, "parameters must be a JSON schema of type object")
    examples, arg_examples = [], []
    for item in meta.get("examples") or []:
        if isinstance(item, dict) and "text" in item:
            examples.append(str(item["text"]))
            arg_examples.append(ArgExample(str(item["text"]), dict(item.get("args") or {})))
        else:
            examples.append(str(item))
    needs = tuple(meta.get("needs") or ())
    if set(needs) - CAPABILITIES:
        raise _fail(path, f"needs {sorted(set(needs) - CAPABILITIES)[0]!r} is not an API; "
                          f"choose from {', '.join(sorted(CAPABILITIES))}")
    handler = path.with_suffix(".py")
    return SkillDoc(
        path=str(path.resolve()), title=title, text=body.strip(),
        sha256=hashlib.sha256(raw.encode()).hexdigest(),
        description=str(meta.get("description") or ""), examples=tuple(examples), name=name,
        summary=str(meta.get("summary") or ""), parameters=parameters,
        arg_examples=tuple(arg_examples), counter_examples=tuple(str(c) for c in meta.get("counter_examples") or ()),
        needs=needs, confirm=str(meta.get("confirm") or ""),
        handler=str(handler.resolve()) if handler.exists() else "")
