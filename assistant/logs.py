"""Logging: a rotating file under the state directory, and stderr for warnings."""
from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path


_in_use: Path | None = None


class _OneLine(logging.Formatter):
    """stderr gets one line per record: a traceback belongs in the log file only."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            return super().format(record).splitlines()[0]
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def log_file_in_use() -> Path | None:
    """The log file tracebacks go to, or None when it could not be opened."""
    return _in_use


def setup_logging(log_file: Path, verbose: bool = False) -> None:
    global _in_use
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for h in list(root.handlers):
        root.removeHandler(h)
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.handlers.RotatingFileHandler(log_file, maxBytes=5 << 20, backupCount=3, encoding="utf-8")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(fh)
        _in_use = log_file
    except OSError:
        _in_use = None  # a read-only state dir must not stop the assistant
    sh = logging.StreamHandler(sys.stderr)
    sh.setLevel(logging.INFO if verbose else logging.WARNING)
    # -v shows tracebacks too; otherwise one line each, the details in the file
    sh.setFormatter(logging.Formatter("%(levelname)s: %(message)s") if verbose else _OneLine("%(levelname)s: %(message)s"))
    sh.addFilter(lambda record: not getattr(record, "file_only", False))
    root.addHandler(sh)
    for noisy in ("httpx", "urllib3", "sentence_transformers", "transformers", "faster_whisper", "lancedb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
