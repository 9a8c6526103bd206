"""Echo cancellation through PulseAudio or PipeWire's module-echo-cancel (webrtc AEC).

With ``audio.echo_handling = "aec"`` the assistant records from the canceller's source and
plays into its sink, so the canceller knows what to subtract, and the mic stays open
while it speaks (barge-in). The module is loaded on first use; PULSE_SOURCE/PULSE_SINK
point PortAudio's pulse device at it.
"""
from __future__ import annotations

import os
import shutil
import subprocess

from assistant.errors import AudioInputError

SOURCE, SINK = "assistant_ec_source", "assistant_ec_sink"


def _pactl(*args: str) -> str:
    return subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=10, check=True).stdout


def ensure_echo_cancel() -> tuple[str, str]:
    hint = "or set audio.echo_handling = \"gate\" in config.toml"
    if shutil.which("pactl") is None:
        raise AudioInputError(f"echo cancellation needs PulseAudio or PipeWire's pactl, which is missing; {hint}")
    try:
        if SOURCE not in _pactl("list", "short", "sources"):
            _pactl("load-module", "module-echo-cancel", "aec_method=webrtc",
                   f"source_name={SOURCE}", f"sink_name={SINK}")
    except (subprocess.SubprocessError, OSError) as e:
        raise AudioInputError(f"cannot load module-echo-cancel ({str(e).splitlines()[0][:100]}); {hint}")
    os.environ["PULSE_SOURCE"], os.environ["PULSE_SINK"] = SOURCE, SINK
    return SOURCE, SINK
