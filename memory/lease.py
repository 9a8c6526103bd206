"""One device at a time compacts and indexes a shared memory table.

Compaction rewrites every small data file and an ANN build takes minutes (97 s at 100k
rows here): two devices doing it at once would each redo the other's work and one would
lose its commit. The lease is a small object beside the table, taken with a conditional
PUT (``If-None-Match: *``) and renewed or taken over, when it has expired, with
``If-Match`` on the version read, so exactly one taker wins. A device that dies holding
it blocks maintenance for at most ``ttl_s``; writes and searches never wait on it.
Local stores have one device, and take it always.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid

log = logging.getLogger(__name__)

NAME = "memories.maintenance-lease"


class Lease:
    def __init__(self, sidecar, ttl_s: float = 900.0) -> None:
        self.sidecar, self.ttl_s = sidecar, ttl_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.local = not sidecar.loc.remote

    def holder(self) -> dict | None:
        got = None if self.local else self.sidecar.read(NAME)
        if got is None:
            return None
        try:
            held = json.loads(got[0])
        except ValueError:
            return None
        return held if held.get("expires", 0) > time.time() else None

    def acquire(self) -> bool:
        """True when this process may maintain the table now (for ``ttl_s``)."""
        if self.local:
            return True
        body = json.dumps({"owner": self.owner, "expires": time.time() + self.ttl_s})
        try:
            if self.sidecar.create(NAME, body):
                return True
            got = self.sidecar.read(NAME)
            if got is None:
                return self.sidecar.create(NAME, body)
            text, version = got
            try:
                held = json.loads(text)
            except ValueError:
                held = {}
            if held.get("owner") == self.owner or held.get("expires", 0) < time.time():
                return self.sidecar.replace(NAME, body, version)
            return False
        except Exception as e:          # the store is away: no maintenance now
            log.debug("maintenance lease not taken: %s", e)
            return False

    def release(self) -> None:
        if self.local:
            return
        try:
            got = self.sidecar.read(NAME)
            if got and json.loads(got[0]).get("owner") == self.owner:
                self.sidecar.delete(NAME)
        except Exception as e:
            log.debug("maintenance lease not released (it expires): %s", e)
