"""A desktop notification, for what could not be said aloud (no speaker)."""
from __future__ import annotations

import logging
import shutil
import subprocess

log = logging.getLogger(__name__)


def desktop_notification(title: str, body: str, timeout_s: float = 5.0) -> bool:
    """Show ``body`` with ``notify-send`` (libnotify); False when there is no desktop."""
    exe = shutil.which("notify-send")
    if exe is None:
        return False
    try:
        return subprocess.run([exe, "--app-name=assistant", title, body], capture_output=True,
                              timeout=timeout_s).returncode == 0
    except (OSError, subprocess.SubprocessError) as e:
        log.debug("notify-send failed: %s", e)
        return False
