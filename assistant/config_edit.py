"""Change one key of the user's config file, keeping its comments, and only if valid.

The one path for every config change a user makes without an editor: by voice ("speak
slower") and from the command line (``assistant config set``). The edited text is
validated exactly as ``load_config`` would read it — the user's file on its own, then
merged over the defaults — before it replaces the file, so a change can never leave a
config that the next start refuses. ``apply`` then copies the new values onto the live
``Config`` the components hold, so the change is heard at once.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import tomlkit

from .config import Config, _deep_merge, _parse, did_you_mean, key_line, problems, read_text
from .errors import ConfigError
from .limits import is_text
from .paths import DEFAULT_CONFIG_FILE

HEADER = ("# Your settings for the voice assistant; they override the defaults in the\n"
          "# repository's config.toml. Changes made by voice or `assistant config` land here.\n")
UNSET = object()


def coerce(raw: str) -> Any:
    """A command-line value as TOML reads it ("0.8" → 0.8, "true" → True); else the string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _check_key(dotted: str, file: Path) -> tuple[str, str]:
    parts = dotted.split(".")
    if len(parts) != 2 or parts[0] not in Config.model_fields or \
            parts[1] not in Config.model_fields[parts[0]].annotation.model_fields:
        hint = did_you_mean(dotted)
        raise ConfigError(f"unknown key{hint}" if hint else
                          "unknown key; use section.key as in the default config.toml", key=dotted)
    return parts[0], parts[1]


def edit(file: Path, dotted: str, value: Any = UNSET, *, default_file: Path = DEFAULT_CONFIG_FILE) -> Config:
    """Set ``section.key`` to ``value`` (or remove it: ``UNSET``) in ``file``; return the merged config."""
    section, key = _check_key(dotted, file)
    if isinstance(value, str) and not is_text(value):
        raise ConfigError("the value is not UTF-8 text (it has undecodable bytes); nothing was written", key=dotted)
    text = read_text(file) if file.exists() else HEADER
    try:
        doc = tomlkit.parse(text)
    except Exception as e:
        raise ConfigError(f"invalid TOML ({str(e).splitlines()[0]}); fix the file first", file=str(file))
    if value is UNSET:
        table = doc.get(section)
        if table is not None and key in table:
            del table[key]
            if not table:
                del doc[section]
    else:
        if section not in doc:
            doc.add(tomlkit.nl())
            doc[section] = tomlkit.table()
        doc[section][key] = value
    new_text = tomlkit.dumps(doc)
    data = tomllib.loads(new_text)
    found = problems(data, file=str(file), text=new_text)
    if found:
        e = found[0]
        if e.key == dotted:          # the value given: it is not in the file, so no line
            raise ConfigError(f"{e.reason}; nothing was written", key=dotted)
        raise ConfigError(f"{e.reason}; fix it first (nothing was written)", file=str(file),
                          line=key_line(text, e.key) if e.key else None, key=e.key)
    defaults = _parse(default_file)[0] if default_file.exists() else {}
    merged = Config.model_validate(_deep_merge(defaults, data))
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(file.name + ".tmp")
    tmp.write_text(new_text, encoding="utf-8")
    os.replace(tmp, file)
    return merged


def apply(live: Config, new: Config) -> list[str]:
    """Copy every changed value of ``new`` onto ``live`` in place; returns the changed keys."""
    changed = []
    for section in Config.model_fields:
        old_part, new_part = getattr(live, section), getattr(new, section)
        for key in type(old_part).model_fields:
            if getattr(old_part, key) != getattr(new_part, key):
                setattr(old_part, key, getattr(new_part, key))
                changed.append(f"{section}.{key}")
    return changed
