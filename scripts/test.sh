#!/usr/bin/env bash
# The test command (`make test`, `.ci/run`): lint, then the whole suite except `gpu` and `network` tests.
# Services the tests need are started here and stopped on exit.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false

echo "== lint"
$BIN/ruff check . || exit 1
$BIN/ruff format --check . || exit 1

echo "== tests"
$BIN/python -m pytest "$@"
rc=$?
# pytest exits 5 when nothing was collected: that is a broken suite, not a pass.
if [ "$rc" -eq 5 ]; then
  echo "no tests were collected" >&2
  exit 1
fi
exit "$rc"
