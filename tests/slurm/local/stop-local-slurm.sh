#!/usr/bin/env bash
# stop-local-slurm.sh: stop the cluster that start-local-slurm.sh started.
#
# Cancels the cluster's jobs, then stops slurmd, slurmctld and munged (the last only if
# start-local-slurm.sh started it), each only by the PID recorded in $EZPIPE_SLURM_DIR and only
# while that PID still runs that program: never by name, never another machine user's daemon.
# Safe to run again, or when nothing runs. Packages, config and logs stay (logs for CI uploads).
set -uo pipefail

DIR=${EZPIPE_SLURM_DIR:-/tmp/ezpipe-slurm}
log() { echo "[stop-local-slurm] $*"; }

alive() {  # alive PIDFILE NAME: the PID in PIDFILE runs a program called NAME
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]]
}

stop() {  # stop NAME: SIGTERM, then SIGKILL after 10 s
  local file=$DIR/$1.pid pid _
  if ! alive "$file" "$1"; then
    rm -f "$file"
    return 0
  fi
  pid=$(cat "$file")
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do
    alive "$file" "$1" || break
    sleep 0.1
  done
  if alive "$file" "$1"; then
    log "$1 (pid $pid) still runs 10 s after SIGTERM: SIGKILL"
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$file"
  log "stopped $1 (pid $pid)"
}

# Cancel the jobs first, so that their steps end cleanly while slurmd still runs.
if [[ -f $DIR/slurm.conf ]] && alive "$DIR/slurmctld.pid" slurmctld; then
  export SLURM_CONF=$DIR/slurm.conf
  jobs=$(timeout 10 squeue -h -o %i 2>/dev/null || true)
  if [[ -n $jobs ]]; then
    # shellcheck disable=SC2086  # one job id per word
    timeout 10 scancel $jobs 2>/dev/null || true
    for _ in $(seq 50); do
      [[ -z $(timeout 5 squeue -h -o %i 2>/dev/null) ]] && break
      sleep 0.2
    done
    log "cancelled jobs: ${jobs//$'\n'/ }"
  fi
fi

stop slurmd
stop slurmctld
stop munged
exit 0
