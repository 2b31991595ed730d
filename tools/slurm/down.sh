#!/usr/bin/env bash
# Stops what tools/slurm/up.sh started (jobs, slurmd, slurmctld, munged).
STATE=${SLURM_LOCAL:-/tmp/replicate-slurm}
squeue -h -o %i 2>/dev/null | xargs -r scancel >/dev/null 2>&1 || true
for d in slurmd slurmctld; do pkill -x $d 2>/dev/null || true; done
[ -f "$STATE/munged.pid" ] && kill "$(cat "$STATE/munged.pid")" 2>/dev/null || true
sleep 1
rm -rf "$STATE/ctld" "$STATE/d"
exit 0
