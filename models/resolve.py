"""Turn a config into concrete model paths: a user path when given, else the bundled default.

A bundled LLM ships as chunks (6 for the 0.5B, 22 for the 1.5B); the first use
concatenates them into the model cache with a progress bar, verifying the pinned sha256
before the file is put in place, so a broken or interrupted assembly can never be loaded.
``llm.model`` names a bundled LLM (``qwen2.5-coder-1.5b``, the default, or
``qwen2.5-coder-0.5b``) or is a path to any GGUF file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from assistant.config import Config
from assistant.errors import ModelError

from .checksum import ChecksumCache, sha256_file
from .progress import progress_bar
from .registry import DEFAULT_LLM, DEFAULTS, LLMS, ModelSpec, packaged_path


@dataclass(frozen=True)
class ResolvedModel:
    stage: str
    name: str
    path: Path
    source: str            # "bundled: <pip pin>" or "config: <key>"
    size_bytes: int
    checksum: str          # "ok", "MISMATCH", "not checked", "user file"

    def as_dict(self) -> dict:
        return {"stage": self.stage, "name": self.name, "path": str(self.path), "source": self.source,
                "size_bytes": self.size_bytes, "checksum": self.checksum}


CONFIG_KEYS = {"stt": ("stt", "model"), "llm": ("llm", "model"), "tts": ("tts", "voice"),
               "embeddings": ("memory", "embedding_model")}


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def bundled_spec(cfg: Config, stage: str) -> ModelSpec | None:
    """The bundled model a stage uses, or None when config names a file of the user's."""
    if stage != "llm":
        return None if user_value(cfg, stage) else DEFAULTS[stage]
    return LLMS.get(cfg.llm.model or DEFAULT_LLM)


def user_value(cfg: Config, stage: str) -> str:
    section, key = CONFIG_KEYS[stage]
    return getattr(getattr(cfg, section), key)


def user_model_path(cfg: Config, stage: str) -> Path | None:
    section, key = CONFIG_KEYS[stage]
    value = user_value(cfg, stage)
    if not value or (stage == "llm" and value in LLMS):
        return None
    path = Path(value).expanduser()
    if not path.exists():
        named = f" or one of {', '.join(LLMS)}" if stage == "llm" else ""
        raise ModelError(f"{section}.{key}: model path {value!r} does not exist; fix it in "
                         f"config.toml, or set it to \"\" for the bundled default{named}")
    return path


def assemble_llm(cache: Path, quiet: bool = False, spec: ModelSpec = LLMS[DEFAULT_LLM]) -> Path:
    """Concatenate a bundled LLM's chunks into ``cache`` once; verify the pinned sha256."""
    LLM = spec
    target = cache / LLM.assembled_name
    checks = ChecksumCache(cache / "checksums.json")
    if target.exists():
        if checks.get(target) == LLM.assembled_sha256:
            return target
        with progress_bar("verifying LLM", target.stat().st_size, quiet=quiet) as bar:
            sha = checks.sha256(target, bar.update)
        if sha == LLM.assembled_sha256:
            return target
        target.unlink()  # corrupt: rebuild it below
    if LLM.derived_from is not None:
        return _derive(cache, LLM, checks, quiet)
    parts = [packaged_path(f) for f in LLM.files]
    total = sum(p.stat().st_size for p in parts)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    import hashlib
    h = hashlib.sha256()
    try:
        with open(tmp, "wb") as out, progress_bar("assembling LLM", total, quiet=quiet) as bar:
            for part in parts:
                with open(part, "rb") as f:
                    while chunk := f.read(8 << 20):
                        out.write(chunk)
                        h.update(chunk)
                        bar.update(len(chunk))
        if h.hexdigest() != LLM.assembled_sha256:
            raise ModelError(f"assembled LLM has sha256 {h.hexdigest()[:12]}…, expected "
                             f"{LLM.assembled_sha256[:12]}…; reinstall {LLM.distribution}")
        tmp.replace(target)
        checks.put(target, LLM.assembled_sha256)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def _derive(cache: Path, spec: ModelSpec, checks: ChecksumCache, quiet: bool) -> Path:
    """A variant made from another bundled LLM (models/requant.py), then checksummed."""
    from .requant import requantize
    src = assemble_llm(cache, quiet=quiet, spec=spec.derived_from)
    target = cache / spec.assembled_name
    requantize(src, target, spec.requant_ftype, quiet=quiet)
    with progress_bar("verifying LLM", target.stat().st_size, quiet=quiet) as bar:
        sha = checks.sha256(target, bar.update)
    if sha != spec.assembled_sha256:
        target.unlink()
        raise ModelError(f"the requantized LLM has sha256 {sha[:12]}…, expected {spec.assembled_sha256[:12]}… "
                         "(this llama.cpp quantizes differently from the pinned one); run ./setup.sh install "
                         "--rebuild-llm, or set llm.model to another model")
    return target


def model_path(cfg: Config, stage: str, cache: Path, quiet: bool = False) -> Path:
    """The path a stage loads: the user's file, or the bundled default (assembled if needed)."""
    user = user_model_path(cfg, stage)
    if user is not None:
        return user
    spec = bundled_spec(cfg, stage)
    if spec.assembled_name:
        return assemble_llm(cache, quiet=quiet, spec=spec)
    first = packaged_path(spec.files[0])
    return first if stage == "tts" else first.parent


def describe(cfg: Config, stage: str, cache: Path, verify: bool = True) -> ResolvedModel:
    """What ``assistant models`` shows for one stage; never raises for a missing file."""
    spec: ModelSpec = bundled_spec(cfg, stage) or DEFAULTS[stage]
    section, key = CONFIG_KEYS[stage]
    try:
        user = user_model_path(cfg, stage)
    except ModelError as e:
        return ResolvedModel(stage, "user model", Path(getattr(getattr(cfg, section), key)),
                             f"config: {section}.{key}", 0, f"MISSING ({e})")
    if user is not None:
        return ResolvedModel(stage, user.name, user, f"config: {section}.{key}", _size(user), "user file")
    checks = ChecksumCache(cache / "checksums.json")
    try:
        if spec.assembled_name:
            path = cache / spec.assembled_name
            if not path.exists():
                parts = [packaged_path(f) for f in spec.files]
                return ResolvedModel(stage, spec.name, path, f"bundled: {spec.distribution}",
                                     sum(p.stat().st_size for p in parts), "not assembled yet")
            ok = (not verify) or checks.sha256(path) == spec.assembled_sha256
            return ResolvedModel(stage, spec.name, path, f"bundled: {spec.distribution}",
                                 path.stat().st_size, "ok" if ok else "MISMATCH")
        files = [(packaged_path(f), f) for f in spec.files]
        status = "ok"
        if verify:
            for p, f in files:
                if checks.sha256(p) != f.sha256:
                    status = f"MISMATCH ({p.name})"
                    break
        path = files[0][0] if stage == "tts" else files[0][0].parent
        return ResolvedModel(stage, spec.name, path, f"bundled: {spec.distribution}", _size(path), status)
    except ModelError as e:
        return ResolvedModel(stage, spec.name, Path("-"), f"bundled: {spec.distribution}", 0, f"MISSING ({e})")


__all__ = ["ResolvedModel", "assemble_llm", "describe", "model_path", "sha256_file"]
