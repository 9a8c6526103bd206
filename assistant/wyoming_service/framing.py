"""Reading Wyoming events with caps, so a client cannot make the server hold or parse too much.

The ``wyoming`` library's ``async_read_event`` trusts ``data_length`` and
``payload_length`` (a header claiming 4 GB makes it wait for 4 GB) and lets a
header without ``type`` raise out of the handler. This reader checks each field
before reading what it announces; anything malformed is a ``BadEvent``, which the
server answers with an ``error`` event and a closed connection (the byte stream
cannot be trusted after it). A connection that stops mid-event is closed after
``read_timeout_s``.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from wyoming.event import Event


@dataclass(frozen=True)
class Limits:
    header_bytes: int = 8192            # the JSON line; real headers are < 300 bytes
    data_bytes: int = 64 * 1024         # the data JSON (a long text to synthesise fits)
    payload_bytes: int = 1024 * 1024    # one audio chunk; clients send ~2-8 KiB
    audio_s: float = 30.0               # audio per transcription (Whisper's window)
    text_chars: int = 10_000            # text per synthesis or handled transcript
    read_timeout_s: float = 30.0        # to finish an event once its header arrived
    max_clients: int = 64               # connections served at once; more are refused


class BadEvent(Exception):
    """A malformed or oversized event; the message is sent in an ``error`` event."""

    def __init__(self, message: str, code: str = "bad-event") -> None:
        super().__init__(message)
        self.code = code


def _length(header: dict, key: str, cap: int) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadEvent(f"{key} must be a non-negative integer (got {value!r})")
    if value > cap:
        raise BadEvent(f"{key} {value} is over the limit of {cap} bytes; send smaller events",
                       code="too-large")
    return value


async def read_event(reader: asyncio.StreamReader, limits: Limits) -> Event | None:
    """The next event, ``None`` at the end of the stream (or a truncated event)."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as e:
        if e.partial.strip():
            raise BadEvent("connection ended inside an event header")
        return None
    except asyncio.LimitOverrunError:
        raise BadEvent(f"event header over {limits.header_bytes} bytes", code="too-large")
    except ValueError:    # readuntil's limit, as raised on some Python versions
        raise BadEvent(f"event header over {limits.header_bytes} bytes", code="too-large")
    if len(line) > limits.header_bytes:
        raise BadEvent(f"event header over {limits.header_bytes} bytes", code="too-large")
    try:
        header = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise BadEvent("event header is not JSON; each event starts with one JSON line")
    if not isinstance(header, dict):
        raise BadEvent("event header must be a JSON object")
    kind = header.get("type")
    if not isinstance(kind, str) or not kind or len(kind) > 64:
        raise BadEvent("event header needs a \"type\" string")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise BadEvent("\"data\" must be a JSON object")
    data_length = _length(header, "data_length", limits.data_bytes)
    payload_length = _length(header, "payload_length", limits.payload_bytes)
    try:
        async with asyncio.timeout(limits.read_timeout_s):
            if data_length:
                more = await reader.readexactly(data_length)
                try:
                    extra = json.loads(more)
                except (ValueError, UnicodeDecodeError):
                    raise BadEvent("event data is not JSON")
                if not isinstance(extra, dict):
                    raise BadEvent("event data must be a JSON object")
                data = {**data, **extra}
            payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        return None                     # the client went away mid-event
    except TimeoutError:
        raise BadEvent(f"event not finished within {limits.read_timeout_s:g} s", code="timeout")
    return Event(type=kind, data=data, payload=payload)
