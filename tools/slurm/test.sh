#!/usr/bin/env bash
# The sweep integration test (make test-slurm, part of make test): a real one-node Slurm
# (tools/slurm/up.sh), a nanogpt ci sweep over 3 seeds submitted with `make sweep`, merged with
# `make merge`, whose metrics must equal one local `run --seeds 1,2,3` bit for bit; then the same
# sweep with task 2 requeued (killed and restarted) midway, which must resume from its
# checkpoint and merge to the same metrics. Skips, saying why, when Slurm cannot start here.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=tools/slurm
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"   # the daemons need root; the jobs run as this user
if ! out=$($SUDO bash $HERE/up.sh 2>&1); then
  echo "== make test-slurm: SKIPPED, Slurm cannot run on this machine: ${out##*$'\n'}"
  exit 0
fi
echo "$out"
WORK=$(mktemp -d /tmp/replicate-sweep-test.XXXXXX)
cleanup() { $SUDO bash $HERE/down.sh; rm -rf "$WORK"; }
trap cleanup EXIT
# Small enough for 2 cores: 60 updates, a checkpoint every 10, one thread per task.
TRAIN="max_iters=60 eval_interval=20 checkpoint_interval=10"
fail() { echo "FAIL: $*"; for f in "$WORK"/*/nanogpt/sweep-*/logs/*; do [ -s "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done; exit 1; }

wait_job() {   # job id, seconds
  local deadline=$((SECONDS + $2))
  while squeue -h -j "$1" 2>/dev/null | grep -q .; do
    [ $SECONDS -lt $deadline ] || { squeue -j "$1"; fail "job $1 still running after $2 s"; }
    sleep 2
  done
}

submit() {     # runs folder → job id (the sweep folder is the only one under it)
  local log
  log=$(make --no-print-directory sweep PAPER=nanogpt PRESET=ci SEEDS=1-3 ARGS="--cpus 1 --runs $1 $TRAIN" 2>&1) || fail "make sweep: $log"
  echo "$log" | sed -n 's/^submitted job \([0-9]*\).*/\1/p' | tail -n 1
}

echo "== one local process, seeds 1,2,3"
local_dir=$(.build/release/nanogpt run --preset ci --seeds 1,2,3 --threads 1 --runs "$WORK/local" $TRAIN 2>"$WORK/local.log" | tail -n 1) \
  || { tail -n 20 "$WORK/local.log"; fail "the local run failed"; }

echo "== a sweep of 3 array tasks through Slurm, merged"
job=$(submit "$WORK/a"); [ -n "$job" ] || fail "make sweep submitted no job"
sweep=$(ls -d "$WORK"/a/nanogpt/sweep-*)
wait_job "$job" 900
merged=$(make --no-print-directory merge PAPER=nanogpt RUNS="$sweep" 2>"$WORK/merge-a.log" | tail -n 1) || { cat "$WORK/merge-a.log"; fail "make merge"; }
grep -q "merging 3 task folders" "$WORK/merge-a.log" || fail "the merge did not join 3 task folders: $(cat "$WORK/merge-a.log")"
grep -q "iter 1/" "$WORK/merge-a.log" && fail "the merge trained"
python3 $HERE/same_metrics.py "$merged" "$local_dir" || fail "merged metrics differ from the local run's"
# Each claim's id and verdict, and the summary line (a timing's measured column is the machine's).
verdicts() { grep -E '^\*\*Verdicts:|^\| .*\| (reproduced|not reproduced|not comparable at this scale|not measured) \|$' "$1/report.md" \
  | awk -F' [|] ' '/^\*\*/ {print; next} {print $1, $NF}'; }
[ "$(verdicts "$merged" | wc -l)" -ge 2 ] || fail "no verdicts found in $merged/report.md"
diff <(verdicts "$merged") <(verdicts "$local_dir") || fail "the merged report's verdicts differ from the local run's"
echo "merged report: $(verdicts "$merged" | wc -l) verdict lines identical to the local run's"

echo "== resubmitting the finished sweep: every task is skipped"
job=$(submit "$WORK/a"); wait_job "$job" 300
grep -q "is finished: nothing to do" "$sweep/logs/task-1.err" || fail "a finished task ran again"

echo "== a sweep whose task 2 is requeued (killed, restarted) after its first checkpoint"
job=$(submit "$WORK/b"); sweep=$(ls -d "$WORK"/b/nanogpt/sweep-*)
deadline=$((SECONDS + 600))
until ls "$sweep"/tasks/nanogpt/*-s2-*/seed-2/checkpoint.h5 >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || fail "task 2 wrote no checkpoint"
  sleep 0.5
done
scontrol requeue "${job}_2" || fail "scontrol requeue ${job}_2"
echo "requeued ${job}_2 midway"
wait_job "$job" 900
grep -q "resuming from" "$sweep/logs/task-2.err" || fail "task 2 did not resume from its checkpoint after the requeue"
merged=$(make --no-print-directory merge PAPER=nanogpt RUNS="$sweep" 2>"$WORK/merge-b.log" | tail -n 1) || { cat "$WORK/merge-b.log"; fail "make merge after the requeue"; }
python3 $HERE/same_metrics.py "$merged" "$local_dir" || fail "after the requeue, merged metrics differ from the local run's"

echo "== make test-slurm: PASS"
