"""The assistant's Wyoming server against the reference servers, side by side, with wyoming-bench.

    .venv/bin/python benchmarks/wyoming_peers.py [--clips 10] [--repeats 2] [--json OUT]

Starts three real servers on loopback, all on this project's bundled models, offline:
ours (``assistant wyoming --services asr,tts``), wyoming-faster-whisper (the bundled
tiny.en directory, int8, ``--local-files-only``) and wyoming-piper (the bundled
en_US-joe-medium, ``--local-files-only``); then runs ``wyoming-bench stt`` and
``wyoming-bench tts`` on ours and the peer together, ``--repeats`` times, swapping
which goes first each time, and reports the means: STT WER and mean total time, TTS
time to first audio and RTF, each with the ratio to the peer measured in the same run.

The peers pin other versions of our dependencies, so they live in their own venv:
``--peers-python`` (or WYOMING_PEERS_PYTHON) is its python; ``--make-venv DIR``
creates it (wyoming-faster-whisper==3.8.1, wyoming-piper==2.5.2,
wyoming-bench==2026.10.0; ~1 min from a local index).
Targets (issue 14): STT mean time ≤ 0.5× the peer's at a WER no worse than the peer's
+ 1 point; TTS time to first audio ≤ the peer's.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from models.registry import STT, TTS, packaged_path  # noqa: E402

PEER_PINS = ["wyoming-faster-whisper==3.8.1", "wyoming-piper==2.5.2", "wyoming-bench==2026.10.0"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{what} did not listen on {port} within {timeout:.0f} s")


def make_venv(path: Path) -> Path:
    python = path / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PINS], check=True)
    return python


def corpus(speech_dir: Path, clips: int, out: Path) -> int:
    """The first ``clips`` recordings of the shared manifest, as wyoming-bench wants (x.wav + x.txt)."""
    with open(speech_dir / "manifest.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))[:clips]
    out.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(rows):
        shutil.copy(speech_dir / row["file"], out / f"clip{i:03d}.wav")
        (out / f"clip{i:03d}.txt").write_text(row["transcript"] + "\n", encoding="utf-8")
    return len(rows)


def summary(text: str) -> dict[str, dict[str, dict[str, str]]]:
    """wyoming-bench's summary tables: mode → server port → column → value."""
    tables: dict[str, dict[str, dict[str, str]]] = {}
    part = text.split("Summary (lower is better)", 1)[-1]
    mode, header = None, None
    for line in part.splitlines():
        m = re.match(r"^\[(\w+)\]$", line.strip())
        if m:
            mode, header = m.group(1), None
            tables[mode] = {}
        elif mode and line.strip().startswith("server"):
            header = line.split()[1:]               # after "server"
        elif mode and header and re.match(r"^\s+127\.0\.0\.1:\d+", line):
            port = re.match(r"^\s+127\.0\.0\.1:(\d+)", line).group(1)
            values = line.split()[-len(header):]
            tables[mode][port] = dict(zip(header, values))
    return tables


def number(value: str) -> float | None:
    try:
        return float(value.rstrip("%s"))
    except (ValueError, AttributeError):
        return None


def bench(bench_bin: Path, kind: str, ports: list[int], extra: list[str]) -> dict:
    cmd = [str(bench_bin), kind, *extra, *[f"127.0.0.1:{p}" for p in ports]]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"wyoming-bench {kind} failed: {result.stderr[-500:]}")
    return summary(result.stdout)


def mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speech-dir", type=Path, default=REPO.parent / "shared" / "data" / "speech")
    ap.add_argument("--clips", type=int, default=10, help="recordings from the manifest (44 in all)")
    ap.add_argument("--rounds", type=int, default=1, help="wyoming-bench timed rounds per sample")
    ap.add_argument("--repeats", type=int, default=2, help="bench runs, alternating which server goes first")
    ap.add_argument("--peers-python", default=os.environ.get("WYOMING_PEERS_PYTHON"))
    ap.add_argument("--make-venv", type=Path, help="create (or update) the peers' venv here")
    ap.add_argument("--json", type=Path, metavar="OUT")
    args = ap.parse_args()

    peers_python = make_venv(args.make_venv) if args.make_venv else Path(args.peers_python or "")
    if not peers_python or not peers_python.exists():
        raise SystemExit("give --peers-python (a venv with wyoming-faster-whisper, wyoming-piper, wyoming-bench) "
                         "or --make-venv DIR")
    bench_bin = peers_python.parent / "wyoming-bench"
    stt_dir = packaged_path(STT.files[0]).parent
    voice = packaged_path(TTS.files[0])
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="wyoming-peers-") as tmp:
        tmp = Path(tmp)
        clips = corpus(args.speech_dir, args.clips, tmp / "corpus")
        ours, fw, piper = free_port(), free_port(), free_port()
        nice = ["nice", "-n", "10"]
        logs = open(tmp / "servers.log", "w")
        try:
            procs.append(subprocess.Popen(
                [*nice, sys.executable, "-m", "assistant", "--home", str(tmp / "home"), "-q", "wyoming",
                 "--uri", f"tcp://127.0.0.1:{ours}", "--services", "asr,tts", "--no-zeroconf"],
                cwd=REPO, stdout=logs, stderr=logs))
            procs.append(subprocess.Popen(
                [*nice, str(peers_python), "-m", "wyoming_faster_whisper", "--uri", f"tcp://127.0.0.1:{fw}",
                 "--model", str(stt_dir), "--data-dir", str(tmp / "fw"), "--download-dir", str(tmp / "fw"),
                 "--stt-library", "faster-whisper", "--local-files-only", "--compute-type", "int8",
                 "--language", "en", "--beam-size", "1"], stdout=logs, stderr=logs))
            procs.append(subprocess.Popen(
                [*nice, str(peers_python), "-m", "wyoming_piper", "--uri", f"tcp://127.0.0.1:{piper}",
                 "--voice", voice.stem, "--data-dir", str(voice.parent), "--local-files-only"],
                stdout=logs, stderr=logs))
            for port, proc, what in ((ours, procs[0], "assistant wyoming"), (fw, procs[1], "wyoming-faster-whisper"),
                                     (piper, procs[2], "wyoming-piper")):
                wait_port(port, proc, what)
            load_before = os.getloadavg()
            stt_runs, tts_runs = [], []
            for r in range(args.repeats):
                order = [ours, fw] if r % 2 == 0 else [fw, ours]
                print(f"stt run {r + 1}/{args.repeats} ({clips} clips)…", file=sys.stderr, flush=True)
                stt_runs.append(bench(bench_bin, "stt", order, ["--corpus", str(tmp / "corpus"), "--mode",
                                                                 "non_streaming", "--rounds", str(args.rounds),
                                                                 "--warmup", "1"]))
                order = [ours, piper] if r % 2 == 0 else [piper, ours]
                print(f"tts run {r + 1}/{args.repeats}…", file=sys.stderr, flush=True)
                tts_runs.append(bench(bench_bin, "tts", order, ["--mode", "both", "--rounds", str(args.rounds),
                                                                 "--warmup", "1"]))
            load_after = os.getloadavg()
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            logs.close()

    def col(runs, mode, port, name):
        return mean([number(run.get(mode, {}).get(str(port), {}).get(name)) for run in runs])

    stt = {who: {"wer_pct": col(stt_runs, "non_streaming", port, "WER"),
                 "mean_ms": col(stt_runs, "non_streaming", port, "Total_mean")}
           for who, port in (("ours", ours), ("wyoming-faster-whisper", fw))}
    tts = {mode: {who: {"ttfa_ms": col(tts_runs, mode, port, "TTFT_mean"),
                        "ttfa_p95_ms": col(tts_runs, mode, port, "TTFT_p95"),
                        "rtf": col(tts_runs, mode, port, "RTF_act")}
                  for who, port in (("ours", ours), ("wyoming-piper", piper))}
           for mode in ("non_streaming", "streaming")}

    def ratio(a, b):
        return round(a / b, 2) if a is not None and b else None

    result = {
        "machine": {"cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in load_after]},
        "clips": clips, "repeats": args.repeats, "rounds": args.rounds,
        "stt": {**stt, "time_ratio": ratio(stt["ours"]["mean_ms"], stt["wyoming-faster-whisper"]["mean_ms"])},
        "tts": {mode: {**rows, "ttfa_ratio": ratio(rows["ours"]["ttfa_ms"], rows["wyoming-piper"]["ttfa_ms"]),
                       "rtf_ratio": ratio(rows["ours"]["rtf"], rows["wyoming-piper"]["rtf"])}
                for mode, rows in tts.items()},
    }
    f = lambda v, fmt: "n/a" if v is None else format(v, fmt)  # noqa: E731
    print(f"load average {result['machine']['loadavg_before']} → {result['machine']['loadavg_after']} "
          f"on {os.cpu_count()} CPUs; {clips} clips, {args.repeats} runs alternating order\n")
    print("STT (wyoming-bench stt, non-streaming)")
    print(f"| server | WER | mean time |\n|---|---|---|")
    for who in ("ours", "wyoming-faster-whisper"):
        print(f"| {who} | {f(stt[who]['wer_pct'], '.1f')}% | {f(stt[who]['mean_ms'], '.0f')} ms |")
    print(f"ratio ours/peer: {result['stt']['time_ratio']}\n")
    print("TTS (wyoming-bench tts, its 4 default texts)")
    print("| mode | server | time to first audio | p95 | RTF |\n|---|---|---|---|---|")
    for mode, rows in tts.items():
        for who in ("ours", "wyoming-piper"):
            r = rows[who]
            print(f"| {mode} | {who} | {f(r['ttfa_ms'], '.0f')} ms | {f(r['ttfa_p95_ms'], '.0f')} ms | "
                  f"{f(r['rtf'], '.2f')} |")
        print(f"| {mode} | ratio | {result['tts'][mode]['ttfa_ratio']} | | {result['tts'][mode]['rtf_ratio']} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
