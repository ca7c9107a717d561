#!/usr/bin/env bash
# SentiBench as the test suite reads it (`make sentibench`; the CI workflow runs it before `make test`): the
# `datasets/` folder of HITSZ-HLT/Sentiment-Distillation at the commit the package pins (GITHUB_COMMIT in
# src/compeff_hf/evaluation/data.py), every file checked against the package's manifest
# (src/compeff_hf/evaluation/manifest.tsv), which is also copied in as MANIFEST.tsv.
#
#   scripts/fetch_sentibench.sh [DEST]           # fetch into DEST (default ../shared/sentibench) unless it verifies
#   scripts/fetch_sentibench.sh --verify DEST    # only check an existing copy
#   scripts/fetch_sentibench.sh --commit         # print the pinned commit
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MANIFEST=$ROOT/src/compeff_hf/evaluation/manifest.tsv
DATA_PY=$ROOT/src/compeff_hf/evaluation/data.py
# One place for the pin: read from the package, so this script cannot drift from what `compeff-hf eval` downloads.
COMMIT=$(sed -n 's/^GITHUB_COMMIT = "\([0-9a-f]\{40\}\)"$/\1/p' "$DATA_PY")
REPO=$(sed -n 's/^GITHUB_REPO = "\([^"]*\)"$/\1/p' "$DATA_PY")
[ -n "$COMMIT" ] && [ -n "$REPO" ] || { echo "fetch_sentibench.sh: no GITHUB_COMMIT/GITHUB_REPO in $DATA_PY" >&2; exit 1; }

die() { echo "fetch_sentibench.sh: $*" >&2; exit 1; }

verify() {
  local dest=$1 bad
  [ -d "$dest" ] || die "no SentiBench folder at $dest: run 'make sentibench' (scripts/fetch_sentibench.sh $dest)"
  # The manifest's columns: path bytes records git_blob_sha1 sha256.
  bad=$(cd "$dest" && tail -n +2 "$MANIFEST" | awk -F'\t' '{print $5 "  " $1}' | sha256sum -c --quiet - 2>&1) || {
    echo "$bad" | head -n 5 >&2
    die "$dest differs from the manifest of commit ${COMMIT:0:7} (src/compeff_hf/evaluation/manifest.tsv): delete it and run 'make sentibench'"
  }
  cp "$MANIFEST" "$dest/MANIFEST.tsv"
  echo "SentiBench at $dest matches the manifest ($(($(wc -l < "$MANIFEST") - 1)) files, commit ${COMMIT:0:7})"
}

fetch() {
  local dest=$1 tmp
  if [ -f "$dest/MANIFEST.tsv" ] && (verify "$dest" >/dev/null 2>&1); then verify "$dest"; return 0; fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  # Exactly the pinned commit, one level deep: GitHub serves a commit by its SHA.
  git -C "$tmp" init -q
  git -C "$tmp" fetch -q --depth 1 "https://github.com/$REPO.git" "$COMMIT" \
    || die "could not fetch github.com/$REPO at $COMMIT (network?)"
  git -C "$tmp" checkout -q FETCH_HEAD
  mkdir -p "$dest"
  cp -r "$tmp/datasets/." "$dest/"
  find "$dest" -name .DS_Store -delete
  verify "$dest"
}

case "${1:-}" in
  --commit) echo "$COMMIT" ;;
  --verify) verify "${2:?usage: $0 --verify DEST}" ;;
  -h | --help) sed -n '2,10p' "$0" ;;
  *) fetch "${1:-${SENTIBENCH_DIR:-$ROOT/../shared/sentibench}}" ;;
esac
