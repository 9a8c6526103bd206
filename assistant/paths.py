"""Where the assistant keeps its state.

One ``--home DIR`` (or ``$ASSISTANT_HOME``) puts everything under a single directory,
which is what tests and portable installs want. Otherwise the XDG base directories
are used, as desktop users expect.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP = "assistant"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = REPO_ROOT / "config.toml"


@dataclass(frozen=True)
class AppPaths:
    config_file: Path   # the user's own config, layered over the defaults
    data_dir: Path      # memory database
    cache_dir: Path     # assembled models, checksum stamps
    state_dir: Path     # logs, metrics
    runtime_dir: Path   # the daemon's control socket and instance lock

    @property
    def socket(self) -> Path:
        return self.runtime_dir / "control.sock"

    @property
    def lock_file(self) -> Path:
        return self.runtime_dir / "daemon.lock"

    @property
    def memory_db(self) -> Path:
        return self.data_dir / "memory.lancedb"

    @property
    def model_cache(self) -> Path:
        """Where bundled models are assembled: once per machine, not once per home.

        An assembled LLM is 0.5-1.1 GB and the same for every home, so every ``--home``
        shares the user's cache (``~/.cache/assistant/models``). A home that wants its own
        copy (a portable install on a USB stick) asks by having a ``cache/models`` folder;
        ``ASSISTANT_MODEL_CACHE`` overrides both.
        """
        shared = os.environ.get("ASSISTANT_MODEL_CACHE")
        if shared:
            return Path(shared)
        own = self.cache_dir / "models"
        return own if own.is_dir() else _xdg("XDG_CACHE_HOME", ".cache") / APP / "models"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "assistant.log"

    def ensure(self) -> None:
        for d in (self.data_dir, self.cache_dir, self.state_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


def resolve_paths(home: str | os.PathLike | None = None) -> AppPaths:
    home = home or os.environ.get("ASSISTANT_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return AppPaths(root / "config.toml", root / "data", root / "cache", root / "logs", root / "run")
    state = _xdg("XDG_STATE_HOME", ".local/state") / APP
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return AppPaths(
        _xdg("XDG_CONFIG_HOME", ".config") / APP / "config.toml",
        _xdg("XDG_DATA_HOME", ".local/share") / APP,
        _xdg("XDG_CACHE_HOME", ".cache") / APP,
        state,
        Path(runtime) / APP if runtime else state / "run",
    )
