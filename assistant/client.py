"""Talk to a running daemon over its control socket."""
from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Iterator

from .control import MAX_LINE, PROTOCOL_VERSION
from .errors import AssistantError


class DaemonError(AssistantError):
    exit_code = 6


class Client:
    def __init__(self, path: Path, timeout: float = 120.0) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(str(path))
        except OSError as e:
            self.sock.close()
            raise DaemonError(f"cannot reach the daemon at {path} ({e.strerror or e}); "
                              "start it with 'assistant start'")
        self.file = self.sock.makefile("rwb")
        self._id = 0

    def close(self) -> None:
        try:
            self.file.close()
        finally:
            self.sock.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read(self) -> dict:
        line = self.file.readline(MAX_LINE + 1)
        if not line:
            raise DaemonError("the daemon closed the connection; see its log ('assistant status')")
        return json.loads(line)

    def call(self, cmd: str, **args: Any) -> Any:
        self._id += 1
        self.file.write((json.dumps({"v": PROTOCOL_VERSION, "id": self._id, "cmd": cmd, "args": args}) + "\n").encode())
        self.file.flush()
        reply = self._read()
        if not reply.get("ok"):
            raise DaemonError(f"daemon: {reply.get('error', 'unknown error')}")
        return reply.get("result")

    def events(self) -> Iterator[dict]:
        self.call("subscribe")
        while True:
            yield self._read()


def daemon_running(path: Path) -> bool:
    try:
        with Client(path, timeout=2.0) as c:
            c.call("ping")
        return True
    except (AssistantError, OSError, ValueError):
        return False
