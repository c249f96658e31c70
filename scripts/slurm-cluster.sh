#!/usr/bin/env bash
# Runs a one-node Slurm cluster on this machine (munged, slurmctld, slurmd started by hand, no systemd) for Weft's
# Slurm launcher and its tests: `start` (a no-op when it answers already), `stop`, `status` (exit 0 only when it answers).
# Needs root and Debian's slurm-wlm and munge. Config, state, spool, logs and pid files live in $WEFT_SLURM_DIR
# (default /tmp/weft-slurm); /etc/slurm/slurm.conf is linked to its slurm.conf unless another config is there already
# (then export SLURM_CONF=$WEFT_SLURM_DIR/slurm.conf, as `start` says).
set -euo pipefail

dir=${WEFT_SLURM_DIR:-/tmp/weft-slurm}
conf=$dir/slurm.conf
host=$(hostname -s)
etc_conf=/etc/slurm/slurm.conf
# Seconds `start` waits for the node to be idle.
wait_seconds=${WEFT_SLURM_WAIT:-60}

say() { printf 'slurm-cluster: %s\n' "$*" >&2; }

# Whether the controller answers and our node is up (idle, mixed or allocated).
answers() {
  SLURM_CONF=$conf timeout 5 sinfo -h -n "$host" -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated|completing)'
}

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

munge_works() { timeout 5 munge -n 2>/dev/null | timeout 5 unmunge >/dev/null 2>&1; }

write_conf() {
  local cpus mem_mb
  cpus=$(nproc)
  # RealMemory: MemTotal less 10% (at least 512 MiB) so that slurmd never finds less than was configured.
  mem_mb=$(awk '/^MemTotal:/ { m = int($2 / 1024); margin = int(m / 10); if (margin < 512) margin = 512; print m - margin }' /proc/meminfo)
  mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/run"
  cat >"$conf" <<EOF
# Written by scripts/slurm-cluster.sh: a one-node cluster for Weft's tests.
ClusterName=weft
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.log
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
KillWait=5
MinJobAge=60
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  # Plain `sbatch` finds the config in /etc/slurm unless a cluster of someone else's is configured there.
  if [ ! -e "$etc_conf" ] || [ "$(readlink "$etc_conf" || true)" = "$conf" ]; then
    mkdir -p /etc/slurm
    ln -sfn "$conf" "$etc_conf"
  else
    say "$etc_conf belongs to another cluster: export SLURM_CONF=$conf to use this one"
  fi
}

start_munge() {
  if munge_works; then return 0; fi
  local key=/etc/munge/munge.key
  mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
  chmod 0700 /etc/munge
  chmod 0755 /run/munge
  if [ ! -s "$key" ]; then
    say "creating a munge key in $key"
    if command -v mungekey >/dev/null 2>&1; then mungekey --create --keyfile="$key" --force
    else dd if=/dev/urandom of="$key" bs=1 count=1024 status=none; fi
  fi
  chown munge:munge "$key"
  chmod 0400 "$key"
  # munged runs as munge and writes its pid file and log where that user may (/run/munge, /var/log/munge); a copy of
  # the pid file in $dir marks it as started by this script, so that `stop` stops it and never a system munged.
  runuser -u munge -- munged
  local i
  for i in $(seq 1 50); do
    if munge_works; then
      cp /run/munge/munged.pid "$dir/run/munged.pid"
      return 0
    fi
    sleep 0.1
  done
  say "munged did not answer; its log:"
  tail -n 20 /var/log/munge/munged.log >&2 || true
  return 1
}

dump_logs() {
  local f
  for f in /var/log/munge/munged.log "$dir/log/slurmctld.log" "$dir/log/slurmd.log"; do
    [ -f "$f" ] || continue
    say "--- $f (last 20 lines)"
    tail -n 20 "$f" >&2
  done
}

start() {
  if [ "$(id -u)" -ne 0 ]; then say "start needs root (slurmd runs jobs as their users)"; exit 1; fi
  for cmd in munged slurmctld slurmd sinfo; do
    command -v "$cmd" >/dev/null 2>&1 || { say "$cmd not found: apt-get install slurm-wlm munge"; exit 1; }
  done
  mkdir -p "$dir"
  if [ -f "$conf" ] && answers; then
    say "running already; config, state and logs in $dir"
    echo "$dir"
    return 0
  fi
  write_conf
  start_munge || { dump_logs; exit 1; }
  export SLURM_CONF=$conf
  pid_alive "$dir/run/slurmctld.pid" || slurmctld -f "$conf"
  pid_alive "$dir/run/slurmd.pid" || slurmd -f "$conf"
  local end=$((SECONDS + wait_seconds))
  while ! answers; do
    if [ $SECONDS -ge $end ]; then
      say "the node $host did not become idle in ${wait_seconds} s; sinfo says: $(timeout 5 sinfo -h -N -o '%N %T %E' 2>&1 || true)"
      dump_logs
      exit 1
    fi
    # A node left down or drained by an earlier run: return it to service.
    if timeout 5 sinfo -h -n "$host" -o '%T' 2>/dev/null | grep -Eq '^(down|drain)'; then
      timeout 5 scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
    fi
    sleep 0.2
  done
  say "one-node cluster up: node $host, $(nproc) CPUs, partition debug; config, state and logs in $dir"
  echo "$dir"
}

stop_pid() {
  local name=$1 file=$2 pid i
  [ -s "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name ($pid) still running after 10 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$file"
}

stop() {
  stop_pid slurmd "$dir/run/slurmd.pid"
  stop_pid slurmctld "$dir/run/slurmctld.pid"
  # munged only when this script started it (a system munged has its pid file elsewhere).
  stop_pid munged "$dir/run/munged.pid"
  say "stopped; logs kept in $dir/log"
}

status() {
  if [ -f "$conf" ] && answers; then
    SLURM_CONF=$conf sinfo -N -o '%N %P %T %c %m' >&2
    echo "$dir"
    return 0
  fi
  say "not running (config dir $dir)"
  return 1
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*)
  echo "usage: $0 start|stop|status   (WEFT_SLURM_DIR, default /tmp/weft-slurm)" >&2
  exit 2
  ;;
esac
