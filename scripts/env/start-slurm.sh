#!/usr/bin/env bash
# Start a private single-node Slurm cluster for sweep's Slurm-target tests.
#
#   scripts/env/start-slurm.sh
#
# munged + slurmctld + slurmd, started by this script with all configuration,
# state and logs under SWEEP_SLURM_DIR (default $SWEEP_TEST_ENV_DIR/slurm, i.e.
# /tmp/sweep-test-env/slurm). The one node is this machine (`hostname -s`,
# NodeAddr 127.0.0.1). Two partitions: `normal` (default, jobs in it are
# requeued when preempted) and `urgent` (higher priority tier; its jobs preempt
# `normal` jobs). No cgroups, no slurmdbd: job outcomes are read with
# `scontrol show job` (finished jobs stay visible for an hour) or from the
# jobcomp log. Installs munge and slurm-wlm with apt when missing.
#
# Idempotent: when everything is healthy it only checks (no job is run); a dead
# daemon is restarted; a changed configuration restarts the Slurm daemons.
#
# Environment: SWEEP_SLURM_DIR, SWEEP_SLURM_CPUS (default nproc),
# SWEEP_SLURM_REQUEUE_DELAY (seconds a requeued job waits before it may run
# again; default 10, min 5), SWEEP_SLURMCTLD_PORT / SWEEP_SLURMD_PORT
# (6817 / 6818).
#
# Progress goes to stderr. The last stdout line is "SLURM READY: ..." (exit 0)
# or "SLURM FAILED: <reason>" (exit 1). On success $SWEEP_SLURM_DIR/env holds
# the variables the tests read (see docs/test-env.md).
set -Eeuo pipefail
exec 3>&1 1>&2   # stdout is reserved for the final status line

ENV_TAG=start-slurm
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

DIR=${SWEEP_SLURM_DIR:-$SWEEP_TEST_ENV_DIR/slurm}
CPUS=${SWEEP_SLURM_CPUS:-$(nproc)}
REQUEUE_DELAY=${SWEEP_SLURM_REQUEUE_DELAY:-10}
CTLD_PORT=${SWEEP_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${SWEEP_SLURMD_PORT:-6818}
CLUSTER=sweeptest
PART=normal
PART_URGENT=urgent
NODE=$(hostname -s | tr -cd 'A-Za-z0-9_-')
NODE=${NODE:-localhost}

ETC=$DIR/etc LOGD=$DIR/log RUN=$DIR/run STATE=$DIR/state SMOKE=$DIR/smoke MUNGE=$DIR/munge
CONF=$ETC/slurm.conf ENVF=$DIR/env JOBCOMP=$LOGD/jobcomp.log
MUNGE_SOCK=$MUNGE/munge.socket MUNGE_KEY=$MUNGE/munge.key MUNGE_PIDF=$MUNGE/munged.pid
CTLD_PIDF=$RUN/slurmctld.pid SLURMD_PIDF=$RUN/slurmd.pid
export SLURM_CONF=$CONF
# an inherited environment must not steer the client commands elsewhere
unset SLURM_CLUSTERS SBATCH_PARTITION SLURM_PARTITION SQUEUE_PARTITION SALLOC_PARTITION 2>/dev/null || true

fail() {
  trap - ERR
  log "ERROR: $*"
  local f
  # Bad arguments leave a running environment alone; any later failure means
  # it is not ready, and no env file may claim otherwise.
  [ "$LOCKED" = 0 ] && { echo "${FAIL_TAG} FAILED: $* (after $(elapsed) s)" >&3; exit 1; }
  rm -f "$ENVF" 2>/dev/null || true
  for f in "$LOGD/slurmctld.log" "$LOGD/slurmd.log" "$MUNGE/munged.log"; do
    [ -s "$f" ] || continue
    log "---- last lines of $f ----"
    grep -v -e pmix -e hwloc "$f" | tail -n 15 >&2 || true
  done
  echo "SLURM FAILED: $* (after $(elapsed) s)" >&3
  exit 1
}
LOCKED=0 FAIL_TAG=SLURM
trap 'fail "unexpected error (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

case ${1:-} in
  "") ;;
  -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&3; exit 0 ;;
  *) fail "unknown argument '$1' (usage: start-slurm.sh)" ;;
esac
[[ $CPUS =~ ^[1-9][0-9]*$ ]] || fail "SWEEP_SLURM_CPUS must be a positive integer (got '$CPUS')"
[[ $REQUEUE_DELAY =~ ^[0-9]+$ ]] && [ "$REQUEUE_DELAY" -ge 5 ] || fail "SWEEP_SLURM_REQUEUE_DELAY must be an integer >= 5"

require_root
take_lock "$DIR"
LOCKED=1
chmod 0755 "$DIR"

ensure_packages munge slurm-wlm
for b in /usr/sbin/munged /usr/bin/munge /usr/bin/unmunge /usr/sbin/slurmctld /usr/sbin/slurmd \
         /usr/bin/sbatch /usr/bin/srun /usr/bin/scontrol /usr/bin/sinfo /usr/bin/squeue /usr/bin/scancel; do
  [ -x "$b" ] || fail "$b missing after install"
done

# ---------------------------------------------------------------- helpers
munged_pid() { owned_pid "$MUNGE_PIDF" munged "$MUNGE_SOCK"; }
ctld_pid() { owned_pid "$CTLD_PIDF" slurmctld "$CONF"; }
slurmd_pid() { owned_pid "$SLURMD_PIDF" slurmd "$CONF"; }
munge_ok() { munge -n -S "$MUNGE_SOCK" 2>/dev/null | unmunge -S "$MUNGE_SOCK" >/dev/null 2>&1; }
ctld_ok() { timeout 10 scontrol ping 2>/dev/null | grep 'is UP' >/dev/null; }
node_state() { timeout 10 sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n1; }
node_ready() { case $(node_state) in idle|mixed|allocated) return 0 ;; *) return 1 ;; esac; }
job_state() { timeout 10 scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
cancel_all_jobs() {
  local jobs
  jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | tr '\n' ' ') || true
  [ -n "${jobs// /}" ] || return 0
  log "cancelling jobs: $jobs"
  # shellcheck disable=SC2086
  timeout 20 scancel $jobs 2>/dev/null || true
  no_running() { [ -z "$(timeout 10 squeue -h -t RUNNING,COMPLETING,CONFIGURING -o %A 2>/dev/null)" ]; }
  wait_until 30 no_running || log "warning: jobs still running after scancel"
}

# ---------------------------------------------------------------- config
# With NoInAddrAny the daemons bind to the address `hostname` resolves to, so
# it is only used when that is a loopback address (true here via /etc/hosts).
# Elsewhere they listen on all addresses; every message is still munge-signed.
HOST_IP=$(getent ahostsv4 "$(hostname)" 2>/dev/null | awk 'NR == 1 { print $1 }') || true
if [[ $HOST_IP == 127.* ]]; then
  COMM_LINE="CommunicationParameters=NoCtldInAddrAny,NoInAddrAny"
else
  COMM_LINE="# hostname resolves to '${HOST_IP:-nothing}', not loopback: daemons listen on all addresses"
fi
MEM_MB=$(awk '/^MemTotal:/ { m = int($2 / 1024 * 0.9); print (m < 256 ? 256 : m) }' /proc/meminfo)
id munge >/dev/null 2>&1 && MUNGE_USER=munge || MUNGE_USER=root

install -d -m 0755 "$ETC" "$LOGD" "$RUN" "$SMOKE"
install -d -m 0700 "$STATE"
install -d -m 0755 -o "$MUNGE_USER" -g "$(id -gn "$MUNGE_USER")" "$MUNGE"
# slurmd runs batch scripts from its spool directory, which must allow exec.
SPOOL=$DIR/spool
if findmnt -n -o OPTIONS -T "$DIR" 2>/dev/null | tr ',' '\n' | grep -x noexec >/dev/null; then
  SPOOL=/var/spool/sweep-test-slurmd
  log "$DIR is mounted noexec; slurmd spools in $SPOOL"
fi
install -d -m 0755 "$SPOOL"

CONF_CHANGED=0
write_if_changed "$CONF" 0644 <<CONF && CONF_CHANGED=1
# Generated by sweep scripts/env/start-slurm.sh: single-node test cluster.
# Rewritten (and the daemons restarted) whenever the script's settings change.
ClusterName=$CLUSTER
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
$COMM_LINE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# Private munged socket. cred_expire is also how long a requeued job is held
# (BeginTime) before it may start again; Slurm's default is 120 s.
AuthInfo=socket=$MUNGE_SOCK,cred_expire=$REQUEUE_DELAY
MpiDefault=none
# No cgroups in this environment: track job processes via /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# trust the CPU count below rather than the (partial) hardware detection
SlurmdParameters=config_overrides
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0,sched_interval=1
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
JobRequeue=1
ReturnToService=2
KillWait=5
# finished jobs stay visible to squeue / scontrol show job for an hour
MinJobAge=3600
InactiveLimit=0
MessageTimeout=10
SlurmctldTimeout=60
SlurmdTimeout=60
MailProg=/bin/true
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SlurmctldPidFile=$CTLD_PIDF
SlurmdPidFile=$SLURMD_PIDF
SlurmctldLogFile=$LOGD/slurmctld.log
SlurmdLogFile=$LOGD/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no slurmdbd (sacct does not work); one line per finished job goes here
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$JOBCOMP
NodeName=$NODE NodeHostname=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=$PART Nodes=$NODE Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE
PartitionName=$PART_URGENT Nodes=$NODE Default=NO MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
CONF

# Commands run without SLURM_CONF (for example over ssh as the test user) read
# /etc/slurm/slurm.conf: point it at ours, but only if that path is free.
if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$CONF" ]; then
  :
elif [ ! -e /etc/slurm/slurm.conf ] && [ ! -L /etc/slurm/slurm.conf ]; then
  mkdir -p /etc/slurm
  ln -s "$CONF" /etc/slurm/slurm.conf
else
  log "note: /etc/slurm/slurm.conf is not ours; commands need SLURM_CONF=$CONF"
fi

write_env() {
  write_env_file "$ENVF" <<ENV
# Written by sweep scripts/env/start-slurm.sh; source it: . $ENVF
export SWEEP_TEST_SLURM=1
export SLURM_CONF=$CONF
export SWEEP_TEST_SLURM_DIR=$DIR
export SWEEP_TEST_SLURM_CLUSTER=$CLUSTER
export SWEEP_TEST_SLURM_NODE=$NODE
export SWEEP_TEST_SLURM_CPUS=$CPUS
export SWEEP_TEST_SLURM_PARTITION=$PART
export SWEEP_TEST_SLURM_URGENT_PARTITION=$PART_URGENT
export SWEEP_TEST_SLURM_REQUEUE_DELAY=$REQUEUE_DELAY
export SWEEP_TEST_SLURM_JOBCOMP_LOG=$JOBCOMP
export SWEEP_TEST_SLURM_SACCT=0
ENV
}

# ---------------------------------------------------------------- warm path
if [ "$CONF_CHANGED" = 0 ] && munged_pid >/dev/null && ctld_pid >/dev/null && slurmd_pid >/dev/null &&
   munge_ok && ctld_ok && node_ready; then
  write_env
  echo "SLURM READY: already running (node $NODE $(node_state), $CPUS CPUs, partitions $PART+$PART_URGENT; $(elapsed) s) env=$ENVF" >&3
  exit 0
fi

# ---------------------------------------------------------------- (re)start
if [ "$CONF_CHANGED" = 1 ]; then
  if ctld_pid >/dev/null && ctld_ok; then cancel_all_jobs; fi
  if p=$(slurmd_pid); then stop_pid "slurmd (config changed)" "$p" || fail "could not stop our slurmd"; fi
  if p=$(ctld_pid); then stop_pid "slurmctld (config changed)" "$p" || fail "could not stop our slurmctld"; fi
fi

if ! munged_pid >/dev/null || ! munge_ok; then
  if p=$(munged_pid); then stop_pid "munged (not answering)" "$p" || fail "could not stop our munged"; fi
  if [ ! -s "$MUNGE_KEY" ]; then
    dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
  fi
  chown "$MUNGE_USER:" "$MUNGE_KEY"
  chmod 0400 "$MUNGE_KEY"
  rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock" "$MUNGE_PIDF"
  # munged insists on owning its log file
  [ ! -e "$MUNGE/munged.log" ] || chown "$MUNGE_USER:" "$MUNGE/munged.log"
  log "starting munged (socket $MUNGE_SOCK)"
  runuser -u "$MUNGE_USER" -- /usr/sbin/munged --socket="$MUNGE_SOCK" --key-file="$MUNGE_KEY" \
    --pid-file="$MUNGE_PIDF" --log-file="$MUNGE/munged.log" --seed-file="$MUNGE/munged.seed" \
    </dev/null >>"$LOGD/munged.stdout" 2>&1 3>&- 9>&- || fail "munged did not start"
  wait_until 10 munge_ok || fail "munged runs but 'munge -n | unmunge' fails"
  munged_pid >/dev/null || fail "munged answers but $MUNGE_PIDF is missing or not ours"
fi

if ! ctld_pid >/dev/null; then
  port_listening "$CTLD_PORT" && fail "port $CTLD_PORT is in use by a process that is not ours (set SWEEP_SLURMCTLD_PORT)"
  rm -f "$CTLD_PIDF"
  log "starting slurmctld (port $CTLD_PORT, clean state)"
  /usr/sbin/slurmctld -f "$CONF" -c -i </dev/null >>"$LOGD/slurmctld.stdout" 2>&1 3>&- 9>&- || fail "slurmctld did not start"
fi
wait_until 30 ctld_ok || fail "slurmctld does not answer 'scontrol ping'"
ctld_pid >/dev/null || fail "slurmctld answers but $CTLD_PIDF is missing or not ours"

if ! slurmd_pid >/dev/null; then
  port_listening "$SLURMD_PORT" && fail "port $SLURMD_PORT is in use by a process that is not ours (set SWEEP_SLURMD_PORT)"
  rm -f "$SLURMD_PIDF"
  log "starting slurmd (node $NODE, port $SLURMD_PORT)"
  /usr/sbin/slurmd -f "$CONF" -N "$NODE" </dev/null >>"$LOGD/slurmd.stdout" 2>&1 3>&- 9>&- || fail "slurmd did not start"
fi
# The node registers within a second or so. If an earlier crash left it DOWN or
# DRAINED, resume it once registration had a chance.
end=$(( $(date +%s) + 60 )) resumed=0
until node_ready; do
  [ "$(date +%s)" -lt "$end" ] || fail "node $NODE is '$(node_state)', not idle, after 60 s"
  slurmd_pid >/dev/null || { sleep 1; slurmd_pid >/dev/null || fail "slurmd exited during startup"; }
  if [ "$resumed" = 0 ] && [ "$(date +%s)" -gt $((end - 55)) ]; then
    case $(node_state) in down*|drain*|fail*)
      log "node is $(node_state); resuming it"
      timeout 10 scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
      resumed=1 ;;
    esac
  fi
  sleep 0.2
done
log "node $NODE is $(node_state) after $(elapsed) s"

# ---------------------------------------------------------------- verify with a real job
cd "$SMOKE"
# shellcheck disable=SC2016  # $SLURM_JOB_ID is for the job's shell
jid=$(timeout 20 sbatch --parsable -J sweep-env-check -p "$PART" -o "$SMOKE/check-%j.out" --wrap 'echo ok-$SLURM_JOB_ID') ||
  fail "sbatch failed"
jid=${jid%%;*}
job_done() { case $(job_state "$jid") in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|BOOT_FAIL|OUT_OF_MEMORY) return 0 ;; *) return 1 ;; esac; }
wait_until 60 job_done || fail "check job $jid did not finish in 60 s (state $(job_state "$jid"))"
[ "$(job_state "$jid")" = COMPLETED ] || fail "check job $jid ended $(job_state "$jid")"
out_ok() { grep -qx "ok-$jid" "$SMOKE/check-$jid.out" 2>/dev/null; }
wait_until 5 out_ok || fail "check job $jid output $SMOKE/check-$jid.out lacks 'ok-$jid'"
log "check job $jid COMPLETED with the expected output"

write_env
echo "SLURM READY: started (node $NODE $(node_state), $CPUS CPUs, partitions $PART+$PART_URGENT; $(elapsed) s) env=$ENVF" >&3
