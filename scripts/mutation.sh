#!/usr/bin/env bash
# Mutation testing (`make mutation`, not part of `.ci/run`): mutmut mutates one module at a time and runs the tests
# of that module against each mutant; a surviving mutant is a change to the code that no test notices.
#
#   scripts/mutation.sh                 # every module below, one after the other
#   scripts/mutation.sh select redact   # some of them (the short names below)
#
# Each module runs in its own copy of src/ and tests/ under $MUTATION_DIR (default runs/mutation/<name>), so the
# working tree is never mutated and the results of a module survive for `mutmut results` / `mutmut show NAME`.
# Workers: $MUTATION_JOBS (default 2, for CPU-heavy tests), and $MUTATION_WAIT_JOBS (default 14) for client, whose
# tests mostly wait on local servers. A module running past $MUTATION_TIMEOUT seconds (default 3600) is stopped and
# reported as such. A test running past $MUTATION_TEST_TIMEOUT seconds (default 120) fails, so a mutant that makes a
# retry loop endless is caught in minutes, not at pytest's 15-minute limit. The kill rate per module is printed at
# the end as one JSON line.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/.venv/bin}
OUT=${MUTATION_DIR:-$ROOT/runs/mutation}
JOBS=${MUTATION_JOBS:-2}
WAIT_JOBS=${MUTATION_WAIT_JOBS:-14}
LIMIT=${MUTATION_TIMEOUT:-3600}
TEST_LIMIT=${MUTATION_TEST_TIMEOUT:-120}
export OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false HF_HUB_DISABLE_TELEMETRY=1 COMPEFF_HF_SKIP_ENGINE=1
# The copies live under $OUT, not beside the checkout: point the tests at the SentiBench the checkout sees.
export SENTIBENCH_DIR=${SENTIBENCH_DIR:-$(cd .. && pwd)/shared/sentibench}

# name | module (glob, relative to the repo) | its tests (globs; files added later by the same pattern join in) |
# tests left out (slow ones whose code a faster test of the same file covers)
MODULES="
select|src/compeff_hf/filter/select.py|tests/filter/test_filter_select*.py tests/filter/test_select*.py
scores|src/compeff_hf/filter/scores.py|tests/filter/test_filter_scores*.py tests/filter/test_scores*.py|tests/filter/test_filter_scores.py::test_embedded_gemma_270m_matches_reference
scoring|src/compeff_hf/evaluation/scoring.py|tests/evaluation/test_eval_scoring*.py tests/evaluation/test_eval_stats*.py tests/evaluation/test_eval_metrics*.py tests/evaluation/test_metrics*.py
metrics|src/compeff_hf/evaluation/metrics/*|tests/evaluation/test_eval_metrics*.py tests/evaluation/test_metrics*.py
parsers|src/compeff_hf/evaluation/parsers.py|tests/evaluation/test_eval_parsers*.py tests/evaluation/test_parsers*.py
client|src/compeff_hf/llm/client.py|tests/llm/test_llm_client*.py tests/llm/test_llm_faults*.py tests/llm/test_client*.py
stage|src/compeff_hf/stage.py|tests/test_stage*.py
redact|src/compeff_hf/hub/redact.py|tests/hub/test_hub_redact*.py tests/hub/test_redact*.py tests/hub/test_hub_cards*.py
"

"$BIN/python" -c "import mutmut" 2>/dev/null || {
  echo "mutmut is not installed: $BIN/python -m pip install -e '.[mutation]'" >&2; exit 1; }

wanted=" $* "
summary="{"
while IFS='|' read -r name module tests skip; do
  [ -n "$name" ] || continue
  [ $# -eq 0 ] || [[ $wanted == *" $name "* ]] || continue
  work=$OUT/$name
  rm -rf "$work" && mkdir -p "$work"
  cp -r src tests pyproject.toml "$work"/
  # Only the test files that exist (a glob that matches nothing stays literal in bash).
  selected=""
  for pattern in $tests; do for f in $pattern; do [ -f "$f" ] && selected="$selected    $f"$'\n'; done; done
  # mutmut reads [tool.mutmut] from pyproject.toml first; the copy's pyproject gets this module's settings.
  {
    echo
    echo "[tool.mutmut]"
    echo "source_paths = [\"src\"]"
    echo "only_mutate = [\"$module\"]"
    echo -n "pytest_add_cli_args = [\"-p\", \"no:cacheprovider\", \"-q\", \"-m\", \"not gpu and not network and not engine\", \"--timeout\", \"$TEST_LIMIT\""
    for t in $skip; do echo -n ", \"--deselect\", \"$t\""; done
    echo "]"
    echo "pytest_add_cli_args_test_selection = ["
    echo "$selected" | sed '/^$/d; s/^ *\(.*\)$/    "\1",/'
    echo "]"
    echo "use_git_change_detection = false"
  } >> "$work/pyproject.toml"
  echo "== $name: $module against:"; echo -n "$selected"
  start=$SECONDS
  jobs=$JOBS
  [ "$name" = client ] && jobs=$WAIT_JOBS
  (cd "$work" && timeout "$LIMIT" "$BIN/mutmut" run --max-children "$jobs" > run.log 2>&1)
  rc=$?
  (cd "$work" && "$BIN/mutmut" results --all true > results.txt 2>&1)
  # Caught: killed, timeout, segfault. Not caught: survived, and "no tests" (no selected test reaches the code).
  killed=$(grep -cE ': (killed|timeout|segfault)$' "$work/results.txt")
  survived=$(grep -cE ': (survived|no tests)$' "$work/results.txt")
  other=$(grep -vcE ': (killed|timeout|segfault|survived|no tests)$' "$work/results.txt")
  total=$((killed + survived))
  rate=$( [ "$total" -gt 0 ] && awk "BEGIN { printf \"%.3f\", $killed / $total }" || echo 0)
  status=ok
  [ "$rc" -eq 124 ] && status="stopped after ${LIMIT}s"
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && status="mutmut exited $rc (see $work/run.log)"
  echo "$name: killed $killed of $total (rate $rate), other $other, $((SECONDS - start))s, $status"
  grep -E ': (survived|no tests)$' "$work/results.txt" | sed 's/^ */  /'
  summary="$summary\"$name\": {\"killed\": $killed, \"survived\": $survived, \"other\": $other, \"rate\": $rate, \"status\": \"$status\"}, "
done <<< "$MODULES"
echo "${summary%, }}"
