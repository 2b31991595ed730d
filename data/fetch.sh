#!/usr/bin/env bash
# Put every data file the project uses into data/, verified against data/SHA256SUMS.
# Uses ../shared/data when it is there (the team's copy); otherwise downloads from the
# public source. The Swift code does the same on first use; this is for doing it up front.
set -euo pipefail
cd "$(dirname "$0")"
declare -A url=(
  [tinyshakespeare.txt]="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
while read -r sum name; do
  [ -z "$name" ] && continue
  if [ -f "$name" ] && echo "$sum  $name" | sha256sum -c --quiet - 2>/dev/null; then continue; fi
  mkdir -p "$(dirname "$name")"
  if [ -f "../../shared/data/$name" ]; then
    cp "../../shared/data/$name" "$name.tmp"
  elif [ -n "${url[$name]:-}" ]; then
    echo "downloading ${url[$name]}"
    curl -fsSL --retry 2 -o "$name.tmp" "${url[$name]}"
  else
    echo "no source for $name"; exit 1
  fi
  if ! echo "$sum  $name.tmp" | sha256sum -c --quiet - ; then
    rm -f "$name.tmp"; echo "$name: checksum mismatch (expected $sum)"; exit 1
  fi
  mv "$name.tmp" "$name"; echo "ok $name"
done < SHA256SUMS
