"""CLI commands for the daemon: daemon, start, stop, status, service install|uninstall."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from .client import Client, DaemonError, daemon_running
from .errors import AssistantError
from .instance import is_locked, read_pid

START_TIMEOUT_S = 180


def add_parsers(sub, common) -> None:
    sub.add_parser("daemon", parents=[common], help="run the voice loop as a service, in the foreground")
    sub.add_parser("start", parents=[common], help="start the daemon in the background")
    sub.add_parser("stop", parents=[common], help="stop the background daemon")
    sub.add_parser("status", parents=[common], help="what the daemon is doing")
    svc = sub.add_parser("service", parents=[common], help="the systemd --user unit")
    svc.add_argument("action", choices=["install", "uninstall"])


def _global_args(ctx) -> list[str]:
    args = ["--home", str(ctx.paths.data_dir.parent)] if ctx.args.home or os.environ.get("ASSISTANT_HOME") else []
    if ctx.args.config:
        args += ["--config", str(Path(ctx.args.config).expanduser().resolve())]
    return args


def cmd_daemon(ctx) -> int:
    from .memtrim import tune_malloc
    tune_malloc()              # before the models and pools start their threads
    from .daemon import Daemon
    return Daemon(ctx.cfg, ctx.paths, ctx.user_config, bool(ctx.args.config)).run()


def cmd_start(ctx) -> int:
    paths = ctx.paths
    paths.ensure()
    if is_locked(paths.lock_file):
        raise DaemonError(f"the daemon is already running (pid {read_pid(paths.lock_file) or '?'}); "
                          "'assistant status' shows what it is doing")
    out = paths.state_dir / "daemon.out"
    with open(out, "ab") as log:
        log.write(f"--- start {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        log.flush()
        proc = subprocess.Popen([sys.executable, "-m", "assistant", *_global_args(ctx), "daemon"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                cwd="/")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if proc.returncode < 0:
                raise DaemonError(f"the daemon died with {_signal_name(proc.returncode)} while starting (a crash in "
                                  "native code); 'assistant doctor' finds the stage and the fix")
            lines = [line for line in out.read_text(errors="replace").splitlines() if line.strip()]
            raise DaemonError(f"the daemon exited at start: {lines[-1] if lines else 'no output'}")
        if daemon_running(paths.socket):
            ctx.out({"pid": proc.pid, "socket": str(paths.socket)}, f"started (pid {proc.pid})")
            return 0
        time.sleep(0.3)
    raise DaemonError(f"the daemon did not become ready in {START_TIMEOUT_S} s; see {paths.log_file}")


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def crashed_before(paths) -> bool:
    """The daemon's output ends with a native crash (faulthandler's report), not a clean exit."""
    try:
        tail = (paths.state_dir / "daemon.out").read_text(errors="replace")[-4000:]
    except OSError:
        return False
    return "Fatal Python error" in tail[tail.rfind("--- start"):]


def cmd_stop(ctx) -> int:
    paths = ctx.paths
    pid = read_pid(paths.lock_file)
    if not is_locked(paths.lock_file) or pid is None:
        ctx.out({"stopped": False, "reason": "not running"}, "the daemon is not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and is_locked(paths.lock_file):
        time.sleep(0.2)
    if is_locked(paths.lock_file):
        raise DaemonError(f"the daemon (pid {pid}) did not stop in 30 s; 'kill -9 {pid}' ends it, "
                          "and the next start recovers")
    ctx.out({"stopped": True, "pid": pid}, f"stopped (pid {pid})")
    return 0


def cmd_status(ctx) -> int:
    if not daemon_running(ctx.paths.socket):
        if crashed_before(ctx.paths):
            ctx.out({"running": False, "crashed": True},
                    f"the daemon is not running: it died in native code (see {ctx.paths.state_dir / 'daemon.out'}); "
                    "'assistant doctor' finds the stage and the fix")
            return 3
        ctx.out({"running": False}, "the daemon is not running; start it with 'assistant start'")
        return 3
    with Client(ctx.paths.socket) as client:
        status = client.call("status")
    if ctx.json:
        print(json.dumps({"running": True, **status}, ensure_ascii=False))
        return 0
    lat = status.get("last_turn_latency_ms") or {}
    print(f"state:        {status['state']}{' (muted)' if status['muted'] else ''}")
    print(f"pid:          {status['pid']}, up {status['uptime_s']:.0f} s, ready in {status['ready_s']} s")
    print(f"microphone:   {status['input']}")
    print(f"turns:        {status['turns']}" + (f" ({status['voice_turns']} spoken, {status['text_turns']} typed)"
                                                  if "text_turns" in status else ""))
    if status.get("speaker") is False:
        print("speaker:      none: replies are not heard; reminders go to notifications and the log")
    if lat:
        print(f"last turn:    first audio {lat.get('first_audio')} ms after speech ended")
    for m in status["models"]:
        print(f"model:        {m['stage']:<11} {m['name']}  ({m['source']})")
    print(f"config:       {status['config_file']}")
    for err in status["config_errors"]:
        print(f"config error: {err}")
    return 0


def cmd_service(ctx) -> int:
    from .systemd import UNIT_NAME, unit_dir, unit_text
    unit = unit_dir() / UNIT_NAME
    systemctl = shutil.which("systemctl")
    if ctx.args.action == "install":
        unit.parent.mkdir(parents=True, exist_ok=True)
        unit.write_text(unit_text(_global_args(ctx)))
        enabled = systemctl is not None and subprocess.run(
            [systemctl, "--user", "daemon-reload"], capture_output=True).returncode == 0 and subprocess.run(
            [systemctl, "--user", "enable", "--now", UNIT_NAME], capture_output=True).returncode == 0
        hint = "" if enabled else " (systemd --user is not available here: start it with 'assistant start')"
        ctx.out({"unit": str(unit), "enabled": enabled}, f"wrote {unit}; enabled: {enabled}{hint}")
        return 0
    if systemctl:
        subprocess.run([systemctl, "--user", "disable", "--now", UNIT_NAME], capture_output=True)
    existed = unit.exists()
    if existed:
        unit.unlink()
    if systemctl:
        subprocess.run([systemctl, "--user", "daemon-reload"], capture_output=True)
    ctx.out({"unit": str(unit), "removed": existed}, f"removed {unit}" if existed else "no unit was installed")
    return 0


def running_client(ctx) -> Client | None:
    """A client when a daemon serves this home, so the CLI shares its models and memory."""
    if ctx.args.command in ("daemon",) or not ctx.paths.socket.exists():
        return None
    try:
        client = Client(ctx.paths.socket)
        client.call("ping")
        return client
    except AssistantError:
        return None


COMMANDS = {"daemon": cmd_daemon, "start": cmd_start, "stop": cmd_stop, "status": cmd_status,
            "service": cmd_service}
