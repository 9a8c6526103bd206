"""Where the memory table lives: a local directory, or a prefix on an S3 object store.

A household shares one memory by pointing every device at the same ``s3://bucket/prefix``
(SeaweedFS, MinIO, AWS S3). LanceDB writes the table there itself; Lance commits with a
conditional PUT (``If-None-Match: *``), so two devices appending at once both land, the
loser retrying on the next version (2 processes x 200 single-row appends on SeaweedFS:
10400/10400 rows). What Lance does not do is said here:

* Credentials come only from the standard AWS variables (``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``) or the shared credentials file
  (``~/.aws/credentials``, ``AWS_PROFILE``): never from config.toml, so ``config show``
  cannot print them.
* ``preflight`` lists the prefix once before anything is opened, so a wrong endpoint,
  refused credentials or a missing bucket is one line saying which (Lance would say
  "Generic S3 error" deep in a traceback), and no local file has been touched.
* Small per-store state that every device must agree on (the ANN search settings, a due
  purge, the maintenance lease) is kept beside the table through ``Sidecar``; the write
  journal stays on the device (``cache_dir``), because it is what that device has not
  yet written.
"""
from __future__ import annotations

import configparser
import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import MemoryStoreError

CREDENTIAL_KEYS = {"aws_access_key_id", "access_key_id", "aws_secret_access_key", "secret_access_key",
                   "aws_session_token", "session_token", "token", "secret_key", "access_key"}
# The object store's own time limits: a store that went away fails a turn's search in
# this long, not after object_store's default 30 s with 10 retries.
# Lance retries a failed request 10 times over up to 180 s by default; a turn must not
# wait that long, and a failed write is retried by the store anyway (every 5 s).
DEFAULT_CLIENT = {"connect_timeout": "3s", "timeout": "10s", "client_max_retries": "2",
                  "client_retry_timeout": "6"}


class StoreUnavailable(MemoryStoreError):
    """The remote store cannot be used now: unreachable, credentials refused, no bucket."""


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


@dataclass(frozen=True)
class Location:
    """A memory table's home. ``options`` never hold credentials (see ``credentials``)."""
    uri: str                                # local directory, or s3://bucket/prefix
    options: dict = field(default_factory=dict)
    cache_dir: Path | None = None           # this device's journal and caches (remote only)
    refresh_seconds: float = 0.0            # how stale a read may be (remote: other devices' writes)

    @classmethod
    def local(cls, path: Path) -> "Location":
        return cls(str(path))

    @property
    def remote(self) -> bool:
        return is_remote(self.uri)

    @property
    def path(self) -> Path:
        """The local directory (local stores), or this device's cache directory."""
        if self.remote:
            assert self.cache_dir is not None
            return self.cache_dir
        return Path(self.uri.removeprefix("file://"))

    @property
    def bucket(self) -> str:
        return self.uri.split("://", 1)[1].split("/", 1)[0]

    @property
    def prefix(self) -> str:
        rest = self.uri.split("://", 1)[1]
        return rest.split("/", 1)[1].strip("/") if "/" in rest else ""

    @property
    def endpoint(self) -> str:
        return self.options.get("endpoint") or self.options.get("aws_endpoint") or "AWS"

    def __str__(self) -> str:
        return self.uri

    def connect_options(self) -> dict:
        """storage_options for LanceDB: the configured ones, credentials and time limits."""
        opts = {**DEFAULT_CLIENT, **{k: str(v) for k, v in self.options.items()}}
        opts.update(credentials())
        return opts


def check_options(options: dict) -> str | None:
    """Why these storage options are not acceptable in a config file, or None."""
    for key in options:
        if key.lower() in CREDENTIAL_KEYS:
            return (f"{key} is a credential: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
                    "environment or ~/.aws/credentials, never in config.toml")
    return None


def cache_dir_for(base: Path, uri: str) -> Path:
    """A directory per store URI under ``base``: one device may use several stores."""
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", uri.split("://", 1)[-1])[:60]
    return base / f"{readable}-{hashlib.sha256(uri.encode()).hexdigest()[:8]}"


def credentials() -> dict[str, str]:
    """AWS keys from the environment, else from the shared credentials file."""
    env = {"aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID"),
           "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY"),
           "aws_session_token": os.environ.get("AWS_SESSION_TOKEN")}
    if env["aws_access_key_id"] and env["aws_secret_access_key"]:
        return {k: v for k, v in env.items() if v}
    path = Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")).expanduser()
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
    except configparser.Error:
        return {}
    section = os.environ.get("AWS_PROFILE", "default")
    if not parser.has_section(section):
        return {}
    found = {k: parser.get(section, k, fallback="") for k in
             ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")}
    return {k: v for k, v in found.items() if v}


def object_store(loc: Location):
    """An obstore S3Store on the bucket (for preflight and the sidecar objects)."""
    from obstore.store import S3Store
    o = {k.lower(): str(v) for k, v in loc.options.items()}
    creds = credentials()
    kwargs = {"region": o.get("region") or o.get("aws_region") or os.environ.get("AWS_REGION") or "us-east-1"}
    if loc.endpoint != "AWS":
        kwargs["endpoint"] = loc.endpoint
    for key in ("access_key_id", "secret_access_key", "session_token"):
        if creds.get("aws_" + key):
            kwargs[key] = creds["aws_" + key]
    if o.get("virtual_hosted_style_request"):
        kwargs["virtual_hosted_style_request"] = o["virtual_hosted_style_request"].lower() == "true"
    client = {"connect_timeout": o.get("connect_timeout", "3s"), "timeout": o.get("timeout", "10s"),
              "allow_http": o.get("allow_http", "false").lower() == "true"}
    return S3Store(loc.bucket, client_options=client,
                   retry_config={"max_retries": 1, "retry_timeout": dt.timedelta(seconds=5),
                                 "backoff": {"init_backoff": dt.timedelta(milliseconds=100),
                                             "max_backoff": dt.timedelta(seconds=1), "base": 2}},
                   **kwargs)


def explain(loc: Location, e: Exception) -> MemoryStoreError:
    """One line saying which part of a remote store is wrong (endpoint, credentials, bucket)."""
    text = str(e)
    first = next((line for line in text.splitlines() if line.strip()), e.__class__.__name__)[:160]
    if "NoSuchBucket" in text:
        return StoreUnavailable(f"memory store {loc.uri}: bucket {loc.bucket!r} does not exist at "
                                f"{loc.endpoint}; create it, or fix the bucket in memory.uri")
    if any(code in text for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied",
                                     "403 Forbidden", "InvalidToken", "ExpiredToken")):
        return StoreUnavailable(f"memory store {loc.uri}: {loc.endpoint} refused the credentials; set "
                                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or ~/.aws/credentials) "
                                "to a key with access to the bucket")
    if any(s in text for s in ("error sending request", "connect", "dns error", "timed out", "Timeout")):
        return StoreUnavailable(f"memory store {loc.uri}: cannot reach endpoint {loc.endpoint}; check "
                                "memory.storage_options.endpoint and that the store is running")
    if re.search(r"non-2xx status code: 5\d\d|InternalError|ServiceUnavailable|SlowDown", text):
        return StoreUnavailable(f"memory store {loc.uri}: {loc.endpoint} answers with server errors; "
                                "check that the store (and its disks) are healthy")
    return MemoryStoreError(f"memory store {loc.uri} failed ({first}); check memory.uri and "
                            "[memory.storage_options]")


def preflight(loc: Location) -> None:
    """List one key under the prefix: reachable, credentials accepted, bucket present."""
    if not loc.remote:
        return
    if not loc.uri.startswith("s3://"):
        raise MemoryStoreError(f"memory.uri {loc.uri!r}: only s3:// object stores (or a local "
                               "directory) are supported; use s3://bucket/prefix")
    if not credentials():
        raise MemoryStoreError(f"memory store {loc.uri}: no credentials; set AWS_ACCESS_KEY_ID and "
                               "AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials")
    import obstore
    try:
        next(iter(obstore.list(object_store(loc), loc.prefix + "/" if loc.prefix else None, chunk_size=1)), None)
    except Exception as e:
        raise explain(loc, e) from None


class Sidecar:
    """Small named text objects kept beside the table, shared by every device using it.

    Local stores keep them as files in the database directory, as before; remote stores
    as objects under the prefix. ``create`` is atomic (O_EXCL, or a conditional PUT) and
    ``replace`` is conditional on the version read: what a lease needs."""

    def __init__(self, loc: Location) -> None:
        self.loc = loc
        self._store = object_store(loc) if loc.remote else None

    def _key(self, name: str) -> str:
        return f"{self.loc.prefix}/{name}" if self.loc.prefix else name

    def read(self, name: str) -> tuple[str, str | None] | None:
        """(text, version tag) or None when absent."""
        if self._store is None:
            try:
                return (self.loc.path / name).read_text(), None
            except OSError:
                return None
        import obstore
        try:
            got = obstore.get(self._store, self._key(name))
            return bytes(got.bytes()).decode(), got.meta.get("e_tag")
        except FileNotFoundError:
            return None

    def write(self, name: str, text: str) -> None:
        if self._store is None:
            (self.loc.path / name).write_text(text)
            return
        import obstore
        obstore.put(self._store, self._key(name), text.encode())

    def create(self, name: str, text: str) -> bool:
        """Write only if absent; False when it exists."""
        if self._store is None:
            try:
                fd = os.open(self.loc.path / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as f:
                f.write(text)
            return True
        import obstore
        from obstore.exceptions import AlreadyExistsError
        try:
            obstore.put(self._store, self._key(name), text.encode(), mode="create")
            return True
        except AlreadyExistsError:
            return False

    def replace(self, name: str, text: str, version: str | None) -> bool:
        """Overwrite only if unchanged since read as ``version``; False when it changed."""
        if self._store is None:
            self.write(name, text)
            return True
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError
        try:
            obstore.put(self._store, self._key(name), text.encode(), mode={"e_tag": version})
            return True
        except (PreconditionError, AlreadyExistsError, FileNotFoundError):
            return False

    def delete(self, name: str) -> None:
        if self._store is None:
            (self.loc.path / name).unlink(missing_ok=True)
            return
        import obstore
        try:
            obstore.delete(self._store, self._key(name))
        except FileNotFoundError:
            pass
