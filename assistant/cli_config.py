"""``assistant config …``: see and change the configuration through the validated path.

``set``/``unset`` go through ``config_edit.edit``: comments and layout of the user's file
are kept (tomlkit), and a value that would not validate is refused before anything is
written. A running daemon notices the saved file and applies it.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

from .config import config_problems, did_you_mean, load_config, read_text
from .errors import AssistantError, ConfigError
from .paths import DEFAULT_CONFIG_FILE


def add_parser(sub, common) -> None:
    cfg = sub.add_parser("config", parents=[common], help="see and change the configuration")
    csub = cfg.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    csub.add_parser("path", parents=[common], help="where your config file is")
    show = csub.add_parser("show", parents=[common], help="your config file (or every value: --effective)")
    show.add_argument("--effective", action="store_true", help="defaults merged with your file")
    get = csub.add_parser("get", parents=[common], help="one value, e.g. tts.speed")
    get.add_argument("key")
    st = csub.add_parser("set", parents=[common], help="set KEY to VALUE (validated, comments kept)")
    st.add_argument("key")
    st.add_argument("value")
    un = csub.add_parser("unset", parents=[common], help="back to the default for KEY")
    un.add_argument("key")
    csub.add_parser("validate", parents=[common], help="check the config files")
    csub.add_parser("edit", parents=[common], help="open your config in $EDITOR, then validate it")


def _redacted(text: str) -> str:
    """The file's text with any credential's value hidden: they belong in the AWS
    environment variables, and validation refuses them, but show must not print them."""
    import re

    from memory.location import CREDENTIAL_KEYS
    keys = "|".join(sorted(CREDENTIAL_KEYS))
    return re.sub(rf"(?im)^(\s*[\"']?(?:{keys})[\"']?\s*=\s*).*$", r'\1"<hidden: not allowed here>"', text)


def _effective(ctx) -> dict:
    return ctx.cfg.model_dump()


def _lookup(data: dict, dotted: str, file: Path):
    node = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            hint = did_you_mean(dotted)
            raise ConfigError(f"unknown key{hint}" if hint else
                              "unknown key; use section.key as in the default config.toml", key=dotted)
        node = node[part]
    return node


def cmd_config(ctx) -> int:
    from . import config_edit
    args, file = ctx.args, ctx.user_config
    action = args.config_command
    if action == "path":
        ctx.out({"user": str(file), "exists": file.exists(), "defaults": str(DEFAULT_CONFIG_FILE)}, str(file))
    elif action == "show":
        if args.effective:
            data = _effective(ctx)
            ctx.out(data, "\n".join(f"{s}.{k} = {json.dumps(v)}" for s, sec in data.items() for k, v in sec.items()))
        else:
            if args.config and not file.exists():
                read_text(file)          # --config names a file that must exist, as for every command
            text = _redacted(read_text(file)) if file.exists() else ""
            ctx.out({"file": str(file), "text": text}, text or f"# {file} does not exist yet: all defaults")
    elif action == "get":
        value = _lookup(_effective(ctx), args.key, file)
        ctx.out({"key": args.key, "value": value}, json.dumps(value) if not isinstance(value, str) else value)
    elif action in ("set", "unset"):
        value = config_edit.coerce(args.value) if action == "set" else config_edit.UNSET
        new = config_edit.edit(file, args.key, value)
        shown = _lookup(new.model_dump(), args.key, file)
        ctx.out({"key": args.key, "value": shown, "file": str(file)}, f"{args.key} = {json.dumps(shown)}  ({file})")
    elif action == "validate":
        found = config_problems(file, required=bool(args.config))
        if found:
            if ctx.json:
                print(json.dumps({"ok": False, "errors": [str(e) for e in found]}, ensure_ascii=False))
            for e in found:
                print(f"{e.label}: {e}", file=sys.stderr)
            return ConfigError.exit_code
        ctx.out({"ok": True, "file": str(file)}, f"ok: {file if file.exists() else DEFAULT_CONFIG_FILE}")
    elif action == "edit":
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        file.parent.mkdir(parents=True, exist_ok=True)
        if not file.exists():
            file.write_text(config_edit.HEADER, encoding="utf-8")
        before = read_text(file)
        try:
            subprocess.run([*shlex.split(editor), str(file)], check=False)
        except OSError as e:
            raise AssistantError(f"cannot start the editor {editor!r} ({e.strerror}); set $EDITOR")
        try:
            load_config(file, required=True)
        except ConfigError as e:
            raise ConfigError(f"{e} — your edit is saved; run "
                              "'assistant config edit' again to fix it (a running daemon keeps the last good config)")
        changed = read_text(file) != before
        ctx.out({"ok": True, "changed": changed}, "ok" + ("" if changed else " (unchanged)"))
    return 0
