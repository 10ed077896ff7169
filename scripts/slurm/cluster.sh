#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trying the render-farm scripts
# and for tests/slurm.rs. Runs as root; needs scripts/slurm/install.sh first.
#
#   scripts/slurm/cluster.sh start DIR   # prints `export SLURM_CONF=DIR/slurm.conf`
#   scripts/slurm/cluster.sh stop DIR
#
# Everything lives under DIR: the config, the MUNGE key and socket, state,
# spool, pid and log files. Ports are free ones above the defaults, so a
# system Slurm (or another such cluster) is left alone. `stop` cancels the
# cluster's jobs and stops exactly the daemons that `start` wrote pid files
# for.
set -euo pipefail
say() { printf '[cluster] %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

[ $# = 2 ] || die "usage: $0 start|stop DIR"
cmd="$1"
if [ "$cmd" = stop ] && [ ! -d "$2" ]; then
  exit 0 # nothing was started there
fi
mkdir -p "$2"
DIR="$(cd "$2" && pwd)"
CONF="$DIR/slurm.conf"
RUN="$DIR/run"
LOG="$DIR/log"
MUNGE="$DIR/munge"
export SLURM_CONF="$CONF"

# Pid files of the daemons this script starts, in start order, with the
# process name each pid must still have (a recycled pid is not ours).
daemons=("munged:$RUN/munged.pid" "slurmctld:$RUN/slurmctld.pid" "slurmd:$RUN/slurmd.pid")

ours() { # name pidfile -> pid on stdout when that daemon is alive
  local name="$1" file="$2" pid
  [ -s "$file" ] || return 1
  pid="$(tr -dc 0-9 <"$file")"
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
  echo "$pid"
}

port_free() { # nothing listens on 127.0.0.1:$1
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_ports() { # two consecutive free ports in 20000-29999
  local p i
  for i in $(seq 1 50); do
    p=$((20000 + (RANDOM % 5000) * 2))
    if port_free "$p" && port_free "$((p + 1))"; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

show_logs() {
  local f
  for f in "$LOG"/*.log; do
    [ -f "$f" ] || continue
    say "--- tail of $f"
    tail -n 20 "$f" >&2
  done
}

stop() {
  # Jobs first: their slurmstepd and tasks would outlive slurmd otherwise.
  if ours slurmctld "$RUN/slurmctld.pid" >/dev/null; then
    local jobs i
    jobs="$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')"
    if [ -n "${jobs// /}" ]; then
      say "cancelling jobs: $jobs"
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null || true
      for i in $(seq 1 40); do
        [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break
        sleep 0.5
      done
    fi
  fi
  local k entry name file pid n
  for ((k = ${#daemons[@]} - 1; k >= 0; k--)); do
    entry="${daemons[$k]}"
    name="${entry%%:*}"
    file="${entry#*:}"
    if pid="$(ours "$name" "$file")"; then
      kill -TERM "$pid" 2>/dev/null || true
      for n in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
      done
      if kill -0 "$pid" 2>/dev/null; then
        say "$name ($pid) ignored SIGTERM for 10 s: killing it"
        kill -KILL "$pid" 2>/dev/null || true
      fi
      say "stopped $name ($pid)"
    fi
    rm -f "$file"
  done
}

start() {
  [ "$(id -u)" = 0 ] || die "must run as root (the daemons run as SlurmUser=root)"
  local b
  for b in munged slurmctld slurmd sbatch squeue sinfo scontrol; do
    command -v "$b" >/dev/null || die "$b not found: run scripts/slurm/install.sh"
  done
  local entry
  for entry in "${daemons[@]}"; do
    if ours "${entry%%:*}" "${entry#*:}" >/dev/null; then
      die "${entry%%:*} already runs for $DIR: run '$0 stop $DIR' first"
    fi
  done
  mkdir -p "$RUN" "$LOG" "$MUNGE" "$DIR/state" "$DIR/spool"
  # Searchable by all, so any local user can reach the socket; the key stays 0400.
  chmod 755 "$MUNGE"

  local node cpus mem_kb mem port
  node="$(hostname -s)"
  cpus="$(nproc)"
  mem_kb="$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
  # A little under the machine's memory: a node reporting less than its
  # configured RealMemory is drained.
  mem=$((mem_kb / 1024 * 9 / 10))
  port="$(free_ports)" || die "no two free ports found in 20000-29999"

  # MUNGE, with its own key and socket (the system's are left alone).
  if [ ! -s "$MUNGE/munge.key" ]; then
    head -c 1024 /dev/urandom >"$MUNGE/munge.key"
  fi
  chmod 400 "$MUNGE/munge.key"
  cat >"$CONF" <<CONF
# Written by scripts/slurm/cluster.sh: a one-node cluster under $DIR.
ClusterName=vstyle
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# Finished jobs stay visible to scontrol for 5 minutes (there is no accounting).
MinJobAge=300
KillWait=30
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

  # Whatever fails from here on, stop what did start.
  trap 'show_logs; stop' ERR
  munged --force --key-file="$MUNGE/munge.key" --socket="$MUNGE/munge.socket" \
    --pid-file="$RUN/munged.pid" --log-file="$LOG/munged.log" --seed-file="$MUNGE/munged.seed"
  slurmctld
  slurmd

  # Ready when the node is idle: slurmd registered with the controller.
  local i state=""
  for i in $(seq 1 60); do
    state="$(sinfo -h -n "$node" -o %t 2>/dev/null || true)"
    [ "$state" = idle ] && break
    sleep 0.5
  done
  if [ "$state" != idle ]; then
    say "error: node $node is '${state:-unknown}' after 30 s, not idle"
    show_logs
    stop
    exit 1
  fi
  trap - ERR
  say "node $node idle ($cpus CPUs, ${mem} MB), slurmctld on port $port"
  echo "export SLURM_CONF=$CONF"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 start|stop DIR" ;;
esac
