#!/usr/bin/env bash
# Start a PulseAudio server with a virtual microphone and speaker, for machines without
# a sound card (CI, containers). Idempotent: does nothing if the server already answers.
#   mic:  sink "mic"; whatever is played into it (paplay --device=mic x.wav) is heard on
#         the source "vmic", which is the assistant's microphone.
#   spk:  sink "spk", the assistant's speaker; record it with parec -d spk.monitor.
# Use with: export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/assistant-runtime}
set -euo pipefail
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/assistant-runtime}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
if ! command -v pulseaudio >/dev/null; then
  echo "virtual-audio: pulseaudio is not installed; run ./setup.sh (apt-get install pulseaudio)" >&2
  exit 1
fi
if pactl info >/dev/null 2>&1 && pactl list short sinks | grep -q '^[0-9]*\s*spk\s'; then
  exit 0
fi
pulseaudio --kill >/dev/null 2>&1 || true
pulseaudio -D --exit-idle-time=-1 -n \
  --load=module-native-protocol-unix \
  --load="module-null-sink sink_name=spk" \
  --load="module-null-sink sink_name=mic" \
  --load="module-remap-source master=mic.monitor source_name=vmic" \
  --load=module-always-sink 2>/dev/null
for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
pactl set-default-sink spk
pactl set-default-source vmic
echo "virtual-audio: PulseAudio running (XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR; mic=vmic, speaker=spk)" >&2
