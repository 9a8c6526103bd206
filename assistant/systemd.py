"""sd_notify without a dependency, and the systemd --user unit for the daemon."""
from __future__ import annotations

import os
import shlex
import socket
import sys
from pathlib import Path


def sd_notify(message: str) -> bool:
    """Send READY=1 / WATCHDOG=1 / STOPPING=1 / STATUS=… to systemd, if it asked for them."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.setblocking(False)     # a reader that has stopped reading must not stall us
            s.connect(address)
            s.sendall(message.encode())
        return True
    except OSError:
        return False


def watchdog_interval_s() -> float | None:
    """Half of WatchdogSec, as systemd recommends; None when no watchdog is set."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2e6
    except ValueError:
        return None


UNIT_NAME = "assistant.service"


def unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def unit_text(extra_args: list[str]) -> str:
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "assistant", *extra_args, "daemon"])
    return f"""[Unit]
Description=Local voice assistant with memory
After=pulseaudio.service pipewire-pulse.service sound.target

[Service]
Type=notify
ExecStart={command}
ExecReload=/bin/kill -HUP $MAINPID
WatchdogSec=30
Restart=on-failure
RestartSec=3
TimeoutStopSec=20

[Install]
WantedBy=default.target
"""
