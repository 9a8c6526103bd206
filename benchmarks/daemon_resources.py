"""Resource figures for the daemon: cold start to READY, idle CPU, RSS before and after N turns.

Runs the real daemon as a subprocess on the PulseAudio virtual microphone (silent unless
something plays into it), in a fresh temporary home:

    .venv/bin/python benchmarks/daemon_resources.py [--turns 1000] [--idle-seconds 30]

READY is timed by systemd's own protocol: the script binds a NOTIFY_SOCKET and waits for
READY=1. Turns are text turns through the control socket (`ask`), which run the same
engine (retrieval, LLM, memory writes) as voice turns; replies are capped at a few tokens
so a thousand turns finish in minutes, since RSS growth, not speed, is measured here.
Targets (issue 5): idle CPU < 5% of one core, RSS < 1.5 GB, READY < 10 s.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.client import Client  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=1000)
    ap.add_argument("--idle-seconds", type=float, default=30.0)
    ap.add_argument("--reply-tokens", type=int, default=8)
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the figures here")
    args = ap.parse_args()

    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp/assistant-runtime")
    subprocess.run(["bash", str(REPO / "scripts" / "virtual-audio.sh")], check=True)
    tmp = Path(tempfile.mkdtemp(prefix="daemon-bench-"))
    home = tmp / "home"
    home.mkdir()
    (home / "config.toml").write_text(f"[llm]\nmax_reply_tokens = {args.reply_tokens}\n")
    notify_path = tmp / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(300)

    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "--home", str(home), "daemon"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "NOTIFY_SOCKET": str(notify_path),
                                 "PULSE_SOURCE": "vmic", "PULSE_SINK": "spk"})
    try:
        while b"READY=1" not in notify.recv(4096):
            pass
        ready_s = time.perf_counter() - started
        p = psutil.Process(proc.pid)
        rss_start = p.memory_info().rss
        p.cpu_percent(None)
        time.sleep(args.idle_seconds)
        idle_cpu = p.cpu_percent(None)
        sock = home / "run" / "control.sock"
        latencies = []
        with Client(sock, timeout=120) as client:
            for i in range(args.turns):
                t0 = time.perf_counter()
                client.call("ask", text=f"Tell me something nice about the number {i}.")
                latencies.append(time.perf_counter() - t0)
                if (i + 1) % 100 == 0:
                    print(f"  {i + 1} turns, RSS {p.memory_info().rss / 2**20:.0f} MiB", file=sys.stderr, flush=True)
        rss_after = p.memory_info().rss
        rss_peak = getattr(p.memory_info(), "hwm", None)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)

    lat = sorted(latencies) or [0.0]
    p50_ms, p95_ms = lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.95)] * 1000
    print(f"machine: {os.cpu_count()} CPUs; turns: {args.turns} (replies capped at {args.reply_tokens} tokens)")
    print(f"cold start → READY:           {ready_s:6.2f} s   (target < 10 s)")
    print(f"CPU while listening (silence): {idle_cpu:6.2f} % of one core over {args.idle_seconds:.0f} s (target < 5%)")
    print(f"RSS after start:               {rss_start / 2**20:6.0f} MiB")
    print(f"RSS after {args.turns} turns:         {rss_after / 2**20:6.0f} MiB   (target < 1536 MiB)")
    if rss_peak:
        print(f"RSS peak:                      {rss_peak / 2**20:6.0f} MiB")
    print(f"turn time p50/p95:             {p50_ms:.0f} / {p95_ms:.0f} ms")
    if args.json:
        args.json.write_text(json.dumps({
            "cpus": os.cpu_count(), "turns": args.turns, "reply_tokens": args.reply_tokens,
            "ready_s": ready_s, "idle_cpu_percent": idle_cpu, "idle_seconds": args.idle_seconds,
            "rss_start_mib": rss_start / 2**20, "rss_after_mib": rss_after / 2**20,
            "rss_peak_mib": rss_peak / 2**20 if rss_peak else None,
            "turn_ms_p50": p50_ms, "turn_ms_p95": p95_ms,
            "load_average_end": os.getloadavg()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
