"""The daemon's control socket: versioned JSON lines over a unix socket (mode 0600).

Request:  {"v": 1, "id": 7, "cmd": "ask", "args": {"text": "..."}}
Reply:    {"v": 1, "id": 7, "ok": true, "result": ...}
          {"v": 1, "id": 7, "ok": false, "error": "one line"}
Events:   {"v": 1, "event": "state", "data": {...}}   (after a `subscribe`)

Every message is one line of at most ``MAX_LINE`` bytes. Anything else — garbage, a
half-written line, an unknown command, bad arguments — gets an error reply; a client
that sends an oversized line is answered and disconnected. No client can crash or stall
the daemon: each connection has its own thread and a read timeout.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import socket
import socketserver
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import AssistantError
from .limits import MAX_INPUT_CHARS

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
MAX_LINE = 64 * 1024
IDLE_TIMEOUT_S = 300.0
MAX_CLIENTS = 64


class ProtocolError(Exception):
    """A request the daemon cannot serve; the message goes back to the client."""


@dataclass(frozen=True)
class Request:
    cmd: str
    args: dict[str, Any]
    id: Any = None


def parse_request(line: bytes) -> Request:
    try:
        msg = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProtocolError(f"not a JSON line ({e.__class__.__name__}); send one JSON object per line")
    if not isinstance(msg, dict):
        raise ProtocolError("a request must be a JSON object like {\"v\": 1, \"cmd\": \"status\"}")
    if msg.get("v", PROTOCOL_VERSION) != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {msg.get('v')!r} is not supported; use v={PROTOCOL_VERSION}")
    cmd, args = msg.get("cmd"), msg.get("args", {})
    if not isinstance(cmd, str) or not cmd:
        raise ProtocolError("missing \"cmd\"")
    if not isinstance(args, dict):
        raise ProtocolError("\"args\" must be an object")
    return Request(cmd, args, msg.get("id"))


def encode(obj: dict) -> bytes:
    return (json.dumps({"v": PROTOCOL_VERSION, **obj}, ensure_ascii=False, default=str) + "\n").encode()


Handler = Callable[[dict[str, Any]], Any]


class EventHub:
    """Fan-out of events to subscribed connections; a slow subscriber loses events, not the daemon."""

    def __init__(self) -> None:
        self._subscribers: list[queue.Queue] = []
        self._lock = threading.Lock()

    def subscribe(self) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=256)
        with self._lock:
            self._subscribers.append(q)
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def publish(self, event: str, data: Any) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for q in subscribers:
            try:
                q.put_nowait((event, data))
            except queue.Full:
                pass


class _Connection(socketserver.StreamRequestHandler):
    timeout = IDLE_TIMEOUT_S
    server: "ControlServer"

    def handle(self) -> None:
        server = self.server
        if not server.admit():
            self._send({"ok": False, "error": "too many clients; try again shortly"})
            return
        try:
            while True:
                line = self.rfile.readline(MAX_LINE + 1)
                if not line:
                    return
                if len(line) > MAX_LINE:
                    self._send({"ok": False, "error": f"message longer than {MAX_LINE} bytes; disconnecting"})
                    self._discard_rest_of_line()
                    return
                if not line.strip():
                    continue
                try:
                    req = parse_request(line)
                except ProtocolError as e:
                    self._send({"ok": False, "id": None, "error": str(e)})
                    continue
                if req.cmd == "subscribe":
                    self._stream_events(req)
                    return
                self._send(server.dispatch(req))
        except (OSError, socket.timeout):
            return
        finally:
            server.leave()

    def _discard_rest_of_line(self, limit: int = 8 << 20) -> None:
        """Read what is left of an oversized line before closing: closing a socket with
        unread data resets it, and the client would lose the error reply."""
        self.connection.settimeout(1.0)
        seen = 0
        while seen < limit:
            chunk = self.rfile.readline(MAX_LINE)
            if not chunk or chunk.endswith(b"\n"):
                return
            seen += len(chunk)

    def _send(self, obj: dict) -> None:
        self.wfile.write(encode(obj))
        self.wfile.flush()

    def _stream_events(self, req: Request) -> None:
        q = self.server.events.subscribe()
        try:
            self._send({"id": req.id, "ok": True, "result": "subscribed"})
            while not self.server.closing.is_set():
                try:
                    event, data = q.get(timeout=1.0)
                except queue.Empty:
                    continue
                self._send({"event": event, "data": data})
        finally:
            self.server.events.unsubscribe(q)


class ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128       # many clients connecting at once must not be refused

    def __init__(self, path: Path, handlers: dict[str, Handler]) -> None:
        self.path, self.handlers = path, handlers
        self.events = EventHub()
        self.closing = threading.Event()
        self._clients = 0
        self._clients_lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.exists() or path.is_symlink():
            path.unlink()            # stale, from a daemon that died: we hold the lock
        old_umask = os.umask(0o177)
        try:
            super().__init__(str(path), _Connection)
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)

    def admit(self) -> bool:
        with self._clients_lock:
            if self._clients >= MAX_CLIENTS:
                return False
            self._clients += 1
            return True

    def leave(self) -> None:
        with self._clients_lock:
            self._clients = max(0, self._clients - 1)

    def dispatch(self, req: Request) -> dict:
        handler = self.handlers.get(req.cmd)
        if handler is None:
            known = ", ".join(sorted([*self.handlers, "subscribe"]))
            return {"id": req.id, "ok": False, "error": f"unknown command {req.cmd[:40]!r}; known: {known}"}
        try:
            return {"id": req.id, "ok": True, "result": handler(req.args)}
        except ProtocolError as e:
            return {"id": req.id, "ok": False, "error": str(e)}
        except AssistantError as e:     # a refusal the user can act on: no traceback
            log.info("control command %s refused: %s", req.cmd, e)
            return {"id": req.id, "ok": False, "error": str(e), "kind": e.kind}
        except Exception as e:  # a failing command must not take the daemon down
            log.exception("control command %s failed", req.cmd)
            msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
            return {"id": req.id, "ok": False, "error": msg}

    def serve_in_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                  name="control", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.closing.set()
        self.shutdown()
        self.server_close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def text_arg(args: dict, name: str = "text", limit: int = MAX_INPUT_CHARS) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(f"\"{name}\" must be a non-empty string, e.g. {{\"{name}\": \"what time is it?\"}}")
    if len(value) > limit:
        raise ProtocolError(f"\"{name}\" is {len(value):,} characters, more than the {limit:,} the assistant "
                            "reads at once; shorten it, or split it into several requests")
    return value.strip()
