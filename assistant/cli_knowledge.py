"""``assistant knowledge add|remove|list|sync|search``: the folders of notes the assistant knows.

``add`` and ``remove`` change ``knowledge.folders`` in the user's config file (comments
kept, validated first: ``config_edit``) and bring the index in line at once; a running
daemon picks the new folder list up from the file, as it does any config edit.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import AssistantError, ConfigError


def register(sub, common: argparse.ArgumentParser) -> None:
    kn = sub.add_parser("knowledge", parents=[common], help="your notes and documents: folders, sync, search")
    ksub = kn.add_subparsers(dest="knowledge_command", metavar="ACTION", required=True)
    ka = ksub.add_parser("add", parents=[common], help="add a folder (or file) and index it now")
    ka.add_argument("path")
    kr = ksub.add_parser("remove", parents=[common], help="stop knowing a folder; its passages leave the index")
    kr.add_argument("path")
    ksub.add_parser("list", parents=[common], help="the folders, with files and passages indexed")
    ksub.add_parser("sync", parents=[common], help="bring the index up to date with the folders")
    ks = ksub.add_parser("search", parents=[common], help="passages most related to QUERY")
    ks.add_argument("query")
    ks.add_argument("--k", "-k", type=int, default=5, help="how many (default 5)")


def _base(ctx):
    rt = ctx.runtime()
    return rt, rt.knowledge


def _progress(ctx):
    """A bar of chunks embedded (with files done, rate and time left), on stderr."""
    if ctx.args.quiet or ctx.json:
        return None, lambda: None
    from tqdm import tqdm
    state = {"bar": None}

    def update(p) -> None:
        if p.chunks_total == 0:
            return
        bar = state["bar"]
        if bar is None:
            bar = state["bar"] = tqdm(total=p.chunks_total, desc="indexing", unit=" chunks", file=sys.stderr,
                                      dynamic_ncols=True, mininterval=0.5)
        bar.update(p.chunks_done - bar.n)
        bar.set_postfix_str(f"{p.files_done}/{p.files_total} files", refresh=False)

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()
    return update, close


def _sync(ctx, folders: list[Path]) -> int:
    rt, kb = _base(ctx)
    update, close = _progress(ctx)
    try:
        report = kb.sync(folders, progress=update)
    finally:
        close()
    if ctx.json:
        ctx.out(report.as_dict(), "")
    else:
        for path, reason in report.skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
        print(report.summary(), flush=True)
    return 0


def _edit_folders(ctx, folders: list[str]) -> None:
    from .config_edit import edit
    try:
        ctx._cfg = edit(ctx.user_config, "knowledge.folders", folders)
    except OSError as e:
        raise ConfigError(f"cannot write ({e.strerror or e}); check the file's permissions", file=str(ctx.user_config))


def _same(a: str, b: Path) -> bool:
    return Path(a).expanduser().resolve() == b


def cmd_knowledge(ctx) -> int:
    args, cfg = ctx.args, ctx.cfg
    action = args.knowledge_command
    if action == "add":
        path = Path(args.path).expanduser().resolve()
        if not path.exists():
            raise AssistantError(f"no such folder {args.path!r}; give an existing folder of notes")
        folders = list(cfg.knowledge.folders)
        if not any(_same(f, path) for f in folders):
            _edit_folders(ctx, folders + [str(path)])
            if not ctx.json:
                print(f"added {path} to knowledge.folders in {ctx.user_config}", file=sys.stderr)
        return _sync(ctx, ctx.cfg.knowledge.paths())
    if action == "remove":
        path = Path(args.path).expanduser().resolve()
        folders = [f for f in cfg.knowledge.folders if not _same(f, path)]
        if len(folders) == len(cfg.knowledge.folders):
            raise AssistantError(f"{args.path!r} is not one of the knowledge folders; see assistant knowledge list")
        _edit_folders(ctx, folders)
        return _sync(ctx, ctx.cfg.knowledge.paths())
    if action == "sync":
        return _sync(ctx, cfg.knowledge.paths())
    if action == "list":
        return _list(ctx)
    return _search(ctx)


def _list(ctx) -> int:
    from memory.knowledge.index import under
    _, kb = _base(ctx)
    files = kb.files()
    rows = []
    for folder in ctx.cfg.knowledge.paths():
        mine = {p: v for p, v in files.items() if under(p, [folder])}
        rows.append({"folder": str(folder), "exists": folder.exists(), "files": len(mine),
                     "chunks": sum(v[3] for v in mine.values())})
    human = "\n".join(f"{r['folder']}  {r['files']} files, {r['chunks']} passages"
                      + ("" if r["exists"] else "  (missing)") for r in rows) \
        or "(no folders; add one with assistant knowledge add PATH)"
    ctx.out({"profile": kb.store.profile, "folders": rows, "disk_bytes": kb.store.disk_bytes(),
             "ann": kb.store.ann or None}, human)
    return 0


def _search(ctx) -> int:
    from memory.knowledge.search import matching_sentences
    _, kb = _base(ctx)
    if ctx.args.k < 1:
        raise AssistantError("--k must be at least 1")
    hits = kb.search(ctx.args.query, k=ctx.args.k, min_relevance=-10.0)
    rows = []
    for h in hits:
        d = h.as_dict()
        d["lines"] = matching_sentences(h.chunk.text, ctx.args.query)[:3]
        rows.append(d)
    human = []
    for d in rows:
        human.append(f"{d['relevance']:.2f}  {d['path']}" + (f"  › {d['heading']}" if d["heading"] else ""))
        for line in d["lines"] or [d["text"][:200]]:
            human.append(f"      {line}")
    ctx.out(rows, "\n".join(human) or "(nothing found)")
    return 0
