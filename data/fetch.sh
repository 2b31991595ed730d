#!/usr/bin/env bash
# Put every data file the project uses into data/, verified against data/SHA256SUMS.
# Uses ../shared/data when it is there (the team's copy); otherwise downloads from the
# public source. The Swift code does the same on first use; this is for doing it up front.
set -euo pipefail
cd "$(dirname "$0")"
declare -A url=(
  [tinyshakespeare.txt]="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
  [JapaneseVowels/JapaneseVowels_TRAIN.ts]="https://files.pythonhosted.org/packages/7d/49/034d8d142106e035fce019d8ee6f04d3ac8842490cd33f811d4df8e15da3/aeon-1.6.0-py3-none-any.whl"
  [JapaneseVowels/JapaneseVowels_TEST.ts]="https://files.pythonhosted.org/packages/7d/49/034d8d142106e035fce019d8ee6f04d3ac8842490cd33f811d4df8e15da3/aeon-1.6.0-py3-none-any.whl"
  [statsmodels/co2.csv]="https://files.pythonhosted.org/packages/fa/6f/235505a633776a2c1188e583e5a507a548b4fbd21abc14e199f1a84e8ee2/statsmodels-0.15.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
)
# Files published inside a wheel (a zip): "path inside the archive sha256-of-the-archive".
declare -A member=(
  [JapaneseVowels/JapaneseVowels_TRAIN.ts]="aeon/datasets/data/JapaneseVowels/JapaneseVowels_TRAIN.ts d05227086706f80111ac5fee8de4d5d3115bb3bcfd1c786c8629393055816409"
  [JapaneseVowels/JapaneseVowels_TEST.ts]="aeon/datasets/data/JapaneseVowels/JapaneseVowels_TEST.ts d05227086706f80111ac5fee8de4d5d3115bb3bcfd1c786c8629393055816409"
  [statsmodels/co2.csv]="statsmodels/datasets/co2/co2.csv b67886b66d9c7ca118526accedb5c6de7ffd74c015dc0492ea0b1690192b65da"
)
while read -r sum name; do
  [ -z "$name" ] && continue
  if [ -f "$name" ] && echo "$sum  $name" | sha256sum -c --quiet - 2>/dev/null; then continue; fi
  mkdir -p "$(dirname "$name")"
  if [ -f "../../shared/data/$name" ]; then
    cp "../../shared/data/$name" "$name.tmp"
  elif [ -n "${member[$name]:-}" ]; then
    read -r path wheelsum <<< "${member[$name]}"
    echo "downloading ${url[$name]} (for $path)"
    curl -fsSL --retry 2 -o "$name.zip" "${url[$name]}"
    if ! echo "$wheelsum  $name.zip" | sha256sum -c --quiet - ; then
      rm -f "$name.zip"; echo "${url[$name]}: checksum mismatch (expected $wheelsum)"; exit 1
    fi
    unzip -p "$name.zip" "$path" > "$name.tmp"; rm -f "$name.zip"
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
