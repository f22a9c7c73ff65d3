#!/usr/bin/env bash
# Stop the test Slurm cluster started by start-slurm.sh.
#
#   scripts/env/stop-slurm.sh [--purge]
#
# Cancels the cluster's jobs (so no job processes are left behind), then stops
# slurmd, slurmctld and munged. Only PIDs from our own pid files are signalled,
# and only after checking that the process has the expected name and was
# started with our private config file (or munge socket); a system munged or
# slurm is never touched.
#   --purge   afterwards delete the state directory (config, state, logs, munge
#             key) and our /etc/slurm/slurm.conf symlink.
# Last stdout line: "SLURM STOPPED: ..." (exit 0) or "SLURM STOP FAILED: <reason>"
# (exit 1).
set -Eeuo pipefail
exec 3>&1 1>&2

ENV_TAG=stop-slurm
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

DIR=${SWEEP_SLURM_DIR:-$SWEEP_TEST_ENV_DIR/slurm}
CONF=$DIR/etc/slurm.conf
MUNGE_SOCK=$DIR/munge/munge.socket
export SLURM_CONF=$CONF
fail() {
  trap - ERR
  log "ERROR: $*"
  echo "SLURM STOP FAILED: $*" >&3
  exit 1
}
trap 'fail "unexpected error (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

PURGE=0
case ${1:-} in
  "") ;;
  --purge) PURGE=1 ;;
  -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&3; exit 0 ;;
  *) fail "unknown argument '$1' (usage: stop-slurm.sh [--purge])" ;;
esac
require_root
if [ ! -d "$DIR" ]; then echo "SLURM STOPPED: nothing to stop ($DIR does not exist)" >&3; exit 0; fi
take_lock "$DIR"
rm -f "$DIR/env"   # from now on the cluster is not ready

slurmd=$(owned_pid "$DIR/run/slurmd.pid" slurmd "$CONF") || slurmd=""
ctld=$(owned_pid "$DIR/run/slurmctld.pid" slurmctld "$CONF") || ctld=""
munged=$(owned_pid "$DIR/munge/munged.pid" munged "$MUNGE_SOCK") || munged=""

if [ -n "$ctld" ] && [ -n "$slurmd" ] && [ -n "$munged" ] &&
   timeout 10 scontrol ping 2>/dev/null | grep 'is UP' >/dev/null; then
  jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | tr '\n' ' ') || jobs=""
  if [ -n "${jobs// /}" ]; then
    log "cancelling jobs: $jobs"
    # shellcheck disable=SC2086
    timeout 20 scancel $jobs 2>/dev/null || true
    none_running() { [ -z "$(timeout 10 squeue -h -t RUNNING,COMPLETING,CONFIGURING,SUSPENDED -o %A 2>/dev/null)" ]; }
    wait_until 30 none_running || log "warning: jobs still running after 30 s"
  fi
fi

FAILED=0
[ -z "$slurmd" ] || stop_pid slurmd "$slurmd" || FAILED=1
[ -z "$ctld" ] || stop_pid slurmctld "$ctld" || FAILED=1
[ -z "$munged" ] || stop_pid munged "$munged" || FAILED=1
[ "$FAILED" = 0 ] || fail "a daemon did not exit"
# (pid files of daemons that were not running, or not ours, are stale)
rm -f "$DIR/run/slurmd.pid" "$DIR/run/slurmctld.pid" "$DIR/munge/munged.pid"

if [ "$PURGE" = 1 ]; then
  if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$CONF" ]; then
    rm -f /etc/slurm/slurm.conf
  fi
  rm -rf -- /var/spool/sweep-test-slurmd   # only exists when $DIR was on a noexec mount
  exec 9>&-
  rm -rf -- "$DIR"
  log "deleted $DIR"
fi
echo "SLURM STOPPED: slurmd=${slurmd:-none} slurmctld=${ctld:-none} munged=${munged:-none}$([ "$PURGE" = 1 ] && echo ' (purged)' || true)" >&3
