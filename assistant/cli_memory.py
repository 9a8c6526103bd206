"""``assistant memory …``: see, search, add, forget, export and import what is remembered.

Kept apart from ``cli.py`` so that the memory commands can grow without touching the
entry point. Every command works on the configured profile only.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from .errors import AssistantError, MemoryStoreError


def register(sub, common: argparse.ArgumentParser) -> None:
    mem = sub.add_parser("memory", parents=[common], help="see, search, add, forget, export what it remembers")
    msub = mem.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    ml = msub.add_parser("list", parents=[common], help="the most recent memories")
    ml.add_argument("-n", type=int, default=20, help="how many (default 20)")
    ml.add_argument("--facts", action="store_true", help="only facts, superseded ones included")
    ms = msub.add_parser("search", parents=[common], help="memories most related to QUERY")
    ms.add_argument("query")
    ms.add_argument("-k", type=int, default=10)
    ma = msub.add_parser("add", parents=[common], help="remember a fact, as \"remember that …\" does")
    ma.add_argument("text")
    mf = msub.add_parser("forget", parents=[common], help="delete memories: by id, by topic, or all")
    mf.add_argument("ids", nargs="*", metavar="ID", help="ids or unique id prefixes (as listed)")
    mf.add_argument("--query", metavar="Q", help="every memory about Q")
    mf.add_argument("--all", action="store_true", help="every memory of this profile (needs --yes)")
    mf.add_argument("--yes", action="store_true", help="confirm --all")
    mf.add_argument("--dry-run", action="store_true", help="show what would be forgotten, delete nothing")
    me = msub.add_parser("export", parents=[common], help="write every memory to a JSONL file")
    me.add_argument("file", metavar="FILE.jsonl")
    mi = msub.add_parser("import", parents=[common], help="add the memories of a JSONL export")
    mi.add_argument("file", metavar="FILE.jsonl")
    msub.add_parser("stats", parents=[common], help="counts, files, versions, indexes, disk use")


def _line(m: dict, relevance: float | None = None) -> str:
    from memory.store import when
    score = f"{relevance:.2f}  " if relevance is not None else ""
    what = "fact" if m["kind"] == "fact" else m["role"]
    old = f"  [superseded by {m['superseded_by'][:8]}]" if m.get("superseded_by") else ""
    return f"{score}{m['id'][:8]}  ({when(m['ts'])}) {what}: {m['text']}{old}"


def _shown(key: str, value) -> str:
    """A stats value for people: no Python reprs."""
    if value is None or value == [] or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if key.endswith("_bytes") and isinstance(value, (int, float)):
        return f"{value / 1e6:.1f} MB" if value >= 1e5 else f"{value / 1e3:.1f} kB"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _resolve_ids(store, given: list[str]) -> list[str]:
    ids = []
    for prefix in given:
        found = store.find_prefix(prefix)
        if not found:
            raise MemoryStoreError(f"no memory with id {prefix!r} in profile {store.profile!r}; "
                                   "see the ids with assistant memory list")
        if len({m.id for m in found}) > 1:
            raise MemoryStoreError(f"id prefix {prefix!r} matches {len(found)} memories; give more characters")
        ids.append(found[0].id)
    return ids


def run(ctx) -> int:
    args, rt = ctx.args, ctx.runtime()
    action = args.memory_command
    if action == "list":
        if args.facts:
            rows = [asdict(m) for m in rt.store.recent(args.n, kind="fact")]
        else:
            rows = [asdict(m) for m in rt.store.recent(args.n)]
        ctx.out(rows, "\n".join(_line(r) for r in rows) or "(no memories)")
    elif action == "search":
        hits = rt.memory.search(args.query, args.k, min_relevance=-10.0)
        rows = [h.as_dict() for h in hits]
        ctx.out(rows, "\n".join(_line(r, r["relevance"]) for r in rows) or "(no memories)")
    elif action == "add":
        from .limits import check_request
        check_request(args.text, "fact")
        memory, replaced = rt.memory.add_fact(args.text)
        rt.store.flush()
        note = f" (replaces {', '.join(i[:8] for i in replaced)})" if replaced else ""
        ctx.out({"added": asdict(memory), "superseded": replaced}, f"remembered {memory.id[:8]}: {memory.text}{note}")
    elif action == "forget":
        return _forget(ctx, rt)
    elif action == "export":
        path = Path(args.file).expanduser()
        try:
            n = rt.memory.export(path)
        except OSError as e:
            raise MemoryStoreError(f"cannot write {path} ({e.strerror or e}); choose a writable path")
        ctx.out({"file": str(path), "exported": n}, f"exported {n} memories to {path}")
    elif action == "import":
        path = Path(args.file).expanduser()
        added, skipped = rt.memory.import_(path, progress=not args.quiet and not ctx.json)
        rate = getattr(rt.memory, "last_import_rate", 0.0)
        ctx.out({"file": str(path), "added": added, "skipped": skipped, "embedded_per_s": round(rate, 1)},
                f"imported {added} memories from {path}" + (f", skipped {skipped} already here" if skipped else "")
                + (f" ({rate:.0f} embedded/s)" if added else ""))
    elif action == "stats":
        s = rt.memory.stats()
        ctx.out(s, "\n".join(f"{k:<18} {_shown(k, v)}" for k, v in s.items()))
    return 0


def _forget(ctx, rt) -> int:
    args, store = ctx.args, rt.store
    chosen = sum(bool(x) for x in (args.ids, args.query, args.all))
    if chosen != 1:
        raise AssistantError("say what to forget: memory forget ID…, --query \"TOPIC\", or --all --yes")
    if args.all:
        if not args.yes:
            raise AssistantError(f"forget --all deletes every memory of profile {store.profile!r}; "
                                 "add --yes to confirm")
        targets = [m for m in store.recent(10**9)]
    elif args.query:
        targets = rt.memory.about(args.query)
    else:
        targets = store.get(_resolve_ids(store, args.ids))
    rows = [asdict(m) for m in targets]
    if args.dry_run:
        n = len(rows)
        ctx.out({"would_forget": rows, "count": n},
                "\n".join([*(_line(r) for r in rows), f"would forget {n} memor{'y' if n == 1 else 'ies'} "
                           "(dry run: nothing was deleted)"]))
        return 0
    if args.all:
        count, revived = store.delete_all(), []
    else:
        count, revived = rt.memory.forget_and_revive([m.id for m in targets])
    minutes = store.settings.retention_minutes
    back = "".join(f"; the older fact is current again: {m.text}" for m in revived)
    ctx.out({"forgotten": count, "ids": [r["id"] for r in rows], "retention_minutes": minutes,
             "revived": [m.id for m in revived]},
            f"forgot {count} memor{'y' if count == 1 else 'ies'}; gone from search now, and from disk "
            f"once older versions pass the {minutes:g}-minute retention window{back}")
    if not ctx.json and not args.quiet and rows:
        print("\n".join(_line(r) for r in rows), file=sys.stderr)
    return 0
