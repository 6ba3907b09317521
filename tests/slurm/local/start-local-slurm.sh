#!/usr/bin/env bash
# start-local-slurm.sh: a real single-node Slurm (Debian's slurm-wlm) for ezpipe's tests.
#
#   bash tests/slurm/local/start-local-slurm.sh --check   say why it cannot run (exit 1), or nothing
#   eval "$(bash tests/slurm/local/start-local-slurm.sh)" install if needed, start, wait for idle
#
# Needs root (slurmd and munged do) and Debian packages from apt: slurmctld, slurmd,
# slurm-client, munge. Idempotent: a cluster already up with the same config is left as it is;
# one with another config is restarted. The daemons run in the background without systemd;
# stop-local-slurm.sh stops them by the PIDs recorded here. stdout is exactly one line,
# `export SLURM_CONF=...` (progress goes to stderr). The config is also copied to
# /etc/slurm/slurm.conf, unless a file not written by this script is there already.
#
# The node claims EZPIPE_SLURM_CPUS CPUs whatever the machine has (config_overrides), so that
# `srun -n 8` runs on a 2-core machine. Knobs (all optional):
#   EZPIPE_SLURM_DIR      state, logs and PID files   [/tmp/ezpipe-slurm]
#   EZPIPE_SLURM_CPUS     CPUs the node claims        [8]
#   EZPIPE_SLURM_PMIX     1: also install libpmix-dev, for `srun --mpi=pmix` (Open MPI) [0]
#   EZPIPE_SLURM_TIMEOUT  seconds to wait for the node to be idle [60]
#   EZPIPE_SLURM_APT_LOCK seconds to wait for another apt/dpkg to finish [300]
set -euo pipefail

DIR=${EZPIPE_SLURM_DIR:-/tmp/ezpipe-slurm}
CPUS=${EZPIPE_SLURM_CPUS:-8}
WANT_PMIX=${EZPIPE_SLURM_PMIX:-0}
TIMEOUT=${EZPIPE_SLURM_TIMEOUT:-60}
APT_LOCK=${EZPIPE_SLURM_APT_LOCK:-300}
MARKER="# written by ezpipe's tests/slurm/local/start-local-slurm.sh"
SYS_CONF=/etc/slurm/slurm.conf
APT=(apt-get -o "DPkg::Lock::Timeout=$APT_LOCK" -qq)

log() { echo "[start-local-slurm] $*" >&2; }
die() { echo "[start-local-slurm] error: $*" >&2; exit 1; }
t0=$SECONDS

# -- what is missing, and can apt provide it? -------------------------------------------------
missing=()
command -v slurmctld >/dev/null || missing+=(slurmctld)
command -v slurmd >/dev/null || missing+=(slurmd)
command -v sbatch >/dev/null || missing+=(slurm-client)
command -v munged >/dev/null || missing+=(munge)
if [[ $WANT_PMIX == 1 ]] && ! compgen -G "/usr/lib/*-linux-gnu/pmix2/lib/libpmix.so" >/dev/null; then
  missing+=(libpmix-dev)  # Slurm's mpi_pmix plugin opens the unversioned libpmix.so
fi

apt_has() {  # apt_has PACKAGE: apt knows an installable version of it
  local candidate
  candidate=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
  [[ -n $candidate && $candidate != "(none)" ]]
}

# why_not: print one line saying why the cluster cannot be started here, and what to do.
why_not() {
  if [[ $(id -u) != 0 ]]; then
    echo "the local Slurm needs root (it installs and runs slurmctld, slurmd and munged):" \
      "run the tests as root, e.g. sudo make test-slurm, or in a root container"
    return 0
  fi
  ((${#missing[@]})) || return 1
  if ! command -v apt-get >/dev/null; then
    echo "${missing[*]} not installed and no apt-get to install them: install Slurm" \
      "(slurmctld, slurmd, client, munge) or run on Debian 12"
    return 0
  fi
  local pkg
  for pkg in "${missing[@]}"; do
    if ! apt_has "$pkg"; then  # empty package lists (fresh container): refresh them once
      "${APT[@]}" update >/dev/null 2>&1 || true
      break
    fi
  done
  for pkg in "${missing[@]}"; do
    if ! apt_has "$pkg"; then
      echo "apt has no package $pkg (no Debian package source configured?): add Debian 12's" \
        "main repository to /etc/apt/sources.list.d, or install Slurm yourself"
      return 0
    fi
  done
  return 1
}

if [[ ${1:-} == --check ]]; then
  if reason=$(why_not); then echo "$reason"; exit 1; fi
  exit 0
fi
[[ -z ${1:-} ]] || die "unknown argument $1 (only --check)"
if reason=$(why_not); then die "$reason"; fi

# -- 1. packages ------------------------------------------------------------------------------
if ((${#missing[@]})); then
  log "installing ${missing[*]} (log: /tmp/ezpipe-slurm-apt.log)"
  export DEBIAN_FRONTEND=noninteractive
  # The packages' scripts would start the daemons through init.d with a config not yet
  # written: forbid it for the install (only when no policy is in place already).
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
  fi
  if ! "${APT[@]}" install -y --no-install-recommends "${missing[@]}" \
    >/tmp/ezpipe-slurm-apt.log 2>&1; then
    tail -20 /tmp/ezpipe-slurm-apt.log >&2
    die "apt-get install ${missing[*]} failed (log: /tmp/ezpipe-slurm-apt.log)"
  fi
  log "installed in $((SECONDS - t0)) s"
fi

# -- 2. config --------------------------------------------------------------------------------
mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
chmod 755 "$DIR"

# Slurm and slurmstepd look the short host name up: containers sometimes cannot resolve it.
host=$(hostname -s 2>/dev/null || hostname)
if ! getent hosts "$host" >/dev/null 2>&1; then
  log "host name '$host' does not resolve: adding it to /etc/hosts"
  echo "127.0.0.1 $host $MARKER" >>/etc/hosts
fi

mem_mb=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
wanted=$(
  cat <<CONF
$MARKER: rewritten on every start
ClusterName=ezpipe
SlurmctldHost=localhost
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SlurmdParameters=config_overrides
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=60
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
)
conf=$DIR/slurm.conf
changed=0
if [[ ! -f $conf || "$(cat "$conf")" != "$wanted" ]]; then
  printf '%s\n' "$wanted" >"$conf.tmp"
  mv "$conf.tmp" "$conf"
  changed=1
fi
export SLURM_CONF=$conf
if [[ -e $SYS_CONF ]] && ! grep -qF "$MARKER" "$SYS_CONF"; then
  log "$SYS_CONF is not ours: left alone (SLURM_CONF=$conf is needed)"
else
  mkdir -p "$(dirname "$SYS_CONF")"
  cmp -s "$conf" "$SYS_CONF" 2>/dev/null || cp "$conf" "$SYS_CONF"
fi

# -- 3. daemons -------------------------------------------------------------------------------
# alive PIDFILE NAME: the PID in PIDFILE runs a program called NAME (not a recycled PID)
alive() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]]
}
# started NAME: a daemon forks, then writes its PID file: wait up to 10 s for it
started() {
  local _
  for _ in $(seq 100); do
    alive "$DIR/$1.pid" "$1" && return 0
    sleep 0.1
  done
  return 1
}
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

if ! munge_ok; then
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /etc/munge
  install -d -o munge -g munge -m 0711 /var/lib/munge
  if [[ ! -s /etc/munge/munge.key ]]; then  # normally made by the package; never printed
    runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key >/dev/null
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  cp /run/munge/munged.pid "$DIR/munged.pid"  # stop-local-slurm.sh stops only this one
  for _ in $(seq 50); do munge_ok && break; sleep 0.1; done
  munge_ok || die "munged did not start (see /var/log/munge/munged.log)"
  log "munged started (pid $(cat "$DIR/munged.pid"))"
fi

if ((changed)); then  # a cluster running on another config: restart it
  for daemon in slurmd slurmctld; do
    if alive "$DIR/$daemon.pid" "$daemon"; then
      pid=$(cat "$DIR/$daemon.pid")
      log "config changed: stopping $daemon (pid $pid)"
      kill "$pid"
      for _ in $(seq 100); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
    fi
  done
fi
if ! alive "$DIR/slurmctld.pid" slurmctld; then
  # -c: a cold start, with no jobs left from an earlier session
  slurmctld -c -f "$conf" || die "slurmctld did not start (see $DIR/log/slurmctld.log)"
  started slurmctld || die "slurmctld exited at once (see $DIR/log/slurmctld.log)"
  log "slurmctld started (pid $(cat "$DIR/slurmctld.pid"))"
fi
if ! alive "$DIR/slurmd.pid" slurmd; then
  slurmd -f "$conf" || die "slurmd did not start (see $DIR/log/slurmd.log)"
  started slurmd || die "slurmd exited at once (see $DIR/log/slurmd.log)"
  log "slurmd started (pid $(cat "$DIR/slurmd.pid"))"
fi

# -- 4. wait until the node takes jobs --------------------------------------------------------
state=
deadline=$((SECONDS + TIMEOUT))
while ((SECONDS < deadline)); do
  state=$(sinfo -h -n localhost -o %T 2>/dev/null | head -1 || true)
  case $state in
    idle | mixed | allocated) break ;;
    down* | drain* | inval* | fail*)  # left over from an earlier session
      scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
case $state in
  idle | mixed | allocated) ;;
  *)
    tail -5 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
    die "the node is not idle after $TIMEOUT s (state: ${state:-none})"
    ;;
esac
log "ready in $((SECONDS - t0)) s: node localhost $state, $CPUS CPUs, config $conf"
echo "export SLURM_CONF=$conf"
