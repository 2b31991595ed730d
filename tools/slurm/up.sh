#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the sweep integration test (and for trying
# `make sweep` without a cluster). Needs root; installs Debian's slurm-wlm and munge when
# missing. Writes its state under $SLURM_LOCAL (default /tmp/replicate-slurm) and
# /etc/slurm/slurm.conf; `tools/slurm/down.sh` stops the daemons. Exit status 3: this machine
# cannot run Slurm (not root, no packages), with the reason on stderr.
set -euo pipefail
STATE=${SLURM_LOCAL:-/tmp/replicate-slurm}
[ "$(id -u)" = 0 ] || { echo "slurm-up: needs root (slurmd runs jobs as their user)" >&2; exit 3; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1 || \
    { echo "slurm-up: cannot install slurm-wlm munge" >&2; exit 3; }
fi
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
mkdir -p "$STATE"/{ctld,d,log} /etc/slurm /run/munge /var/log/munge /var/lib/munge
# munge: a key if the package made none, then the daemon (as root, which --force allows).
[ -s /etc/munge/munge.key ] || { mkdir -p /etc/munge; dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
chmod 400 /etc/munge/munge.key
if ! munge -n >/dev/null 2>&1; then
  munged --force --key-file=/etc/munge/munge.key --socket=/run/munge/munge.socket.2 \
    --log-file="$STATE/log/munged.log" --pid-file="$STATE/munged.pid" --seed-file="$STATE/munged.seed"
  for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n >/dev/null 2>&1 || { echo "slurm-up: munged did not start ($STATE/log/munged.log)" >&2; exit 3; }
fi
cat > /etc/slurm/slurm.conf <<CONF
# Written by tools/slurm/up.sh: one node, no cgroups, jobs run as root.
ClusterName=replicate
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
JobRequeue=1
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
pgrep -x slurmctld >/dev/null || slurmctld -i
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 100); do
  sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && { echo "slurm-up: node $host up ($cpus CPUs, ${mem} MB)"; exit 0; }
  sleep 0.2
done
scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
sleep 1
sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && { echo "slurm-up: node $host up ($cpus CPUs)"; exit 0; }
echo "slurm-up: the node did not come up: $(sinfo -h -o '%T %E' 2>&1 | head -n1); logs in $STATE/log" >&2
exit 3
