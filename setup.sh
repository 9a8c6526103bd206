#!/usr/bin/env bash
# Set up everything the assistant needs on a fresh Debian/Ubuntu machine, then act:
#   ./setup.sh run [ARGS...]   install, prepare models, run the assistant (assistant run ARGS)
#   ./setup.sh test [ARGS...]  install, start virtual audio, run the test suite (pytest ARGS)
#   ./setup.sh install         install only
# Re-running is cheap: apt, pip and model assembly are skipped when already done.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
VENV=${ASSISTANT_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
APT_PACKAGES=(pulseaudio pulseaudio-utils libasound2-plugins libportaudio2 libsndfile1)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

install_system() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing system packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python() {
  # The stamp ties the venv to the exact dependency pins: change them and it reinstalls.
  local stamp="$VENV/.installed" want
  want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$VENV/bin/python" -c "import assistant" 2>/dev/null; then
    return 0
  fi
  say "creating the Python environment in $VENV (llama-cpp-python compiles once: a few minutes)"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip wheel
  # torch first and alone: pinned to the CPU build, so nothing pulls a CUDA build.
  "$VENV/bin/python" -m pip install -q torch==2.13.0
  "$VENV/bin/python" -m pip install -q -c requirements.lock -e ".[test]"
  echo "$want" > "$stamp"
}

prepare_models() {
  say "preparing models (assembled and checksummed once)"
  "$VENV/bin/assistant" models --prepare
}

cmd=${1:-run}
[ $# -gt 0 ] && shift
install_system
install_python
case "$cmd" in
  install) prepare_models ;;
  run)     prepare_models; say "running the assistant"; exec "$VENV/bin/assistant" run "$@" ;;
  test)    say "starting virtual audio devices"
           export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/assistant-runtime}
           scripts/virtual-audio.sh
           say "running the tests"
           exec "$VENV/bin/python" -m pytest "$@" ;;
  *)       echo "usage: ./setup.sh [run|test|install] [ARGS...]" >&2; exit 2 ;;
esac
