#!/usr/bin/env bash
# Stop the private sshd instances started by start-sshd.sh.
#
#   scripts/env/stop-sshd.sh [--host I] [--sessions] [--purge]
#
#   --host I     stop only instance I (sweep-host-I), e.g. to simulate a host
#                failure; start-sshd.sh brings it back.
#   --sessions   also end the connections already open to the stopped
#                instance(s) (the listener's own child sshd processes);
#                without it, open sessions and ControlMasters survive, as
#                they would on a real host whose sshd is restarted.
#   --purge      afterwards delete the state directory (keys, configs, logs)
#                and the test user if start-sshd.sh created it.
#
# Only PIDs from our own pid files are signalled, and only after checking that
# the process is an sshd running our config file. Last stdout line:
# "SSHD STOPPED: ..." (exit 0) or "SSHD STOP FAILED: <reason>" (exit 1).
set -Eeuo pipefail
exec 3>&1 1>&2

ENV_TAG=stop-sshd
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

DIR=${SWEEP_SSHD_DIR:-$SWEEP_TEST_ENV_DIR/sshd}
fail() {
  trap - ERR
  log "ERROR: $*"
  echo "SSHD STOP FAILED: $*" >&3
  exit 1
}
trap 'fail "unexpected error (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

ONLY="" SESSIONS=0 PURGE=0
while [ $# -gt 0 ]; do
  case $1 in
    --host) [ $# -ge 2 ] || fail "--host needs a number"; ONLY=$2; shift 2 ;;
    --host=*) ONLY=${1#*=}; shift ;;
    --sessions) SESSIONS=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&3; exit 0 ;;
    *) fail "unknown argument '$1'" ;;
  esac
done
[ -z "$ONLY" ] || [[ $ONLY =~ ^[1-9][0-9]*$ ]] || fail "--host must be a number (got '$ONLY')"
[ -z "$ONLY" ] || [ "$PURGE" = 0 ] || fail "--purge cannot be combined with --host"
require_root
if [ ! -d "$DIR" ]; then echo "SSHD STOPPED: nothing to stop ($DIR does not exist)" >&3; exit 0; fi
take_lock "$DIR"

# session_pids LISTENER: the per-connection sshd processes it forked.
session_pids() {
  local d ppid
  for d in /proc/[0-9]*; do
    [ "$(cat "$d/comm" 2>/dev/null)" = sshd ] || continue
    ppid=$(sed 's/.*) //' "$d/stat" 2>/dev/null | cut -d' ' -f2) || continue
    [ "$ppid" = "$1" ] && echo "${d#/proc/}"
  done
  return 0
}

stopped=() FAILED=0
for hd in "$DIR"/host-*; do
  [ -d "$hd" ] || continue
  i=${hd##*/host-}
  [ -z "$ONLY" ] || [ "$i" = "$ONLY" ] || continue
  if p=$(owned_pid "$hd/sshd.pid" sshd "$hd/sshd_config"); then
    kids=""
    [ "$SESSIONS" = 0 ] || kids=$(session_pids "$p" | tr '\n' ' ')
    stop_pid "sshd sweep-host-$i" "$p" || FAILED=1
    for k in $kids; do
      # re-check: still an sshd, and it was forked by our listener
      [ "$(cat "/proc/$k/comm" 2>/dev/null)" = sshd ] || continue
      log "ending session process $k of sweep-host-$i"
      kill -TERM "$k" 2>/dev/null || true
    done
    stopped+=("sweep-host-$i=$p")
  elif [ -s "$hd/sshd.pid" ]; then
    log "sweep-host-$i: pid file $hd/sshd.pid is stale or not ours; not signalling anything"
  fi
  rm -f "$hd/sshd.pid"
done
[ -n "$ONLY" ] && [ ! -d "$DIR/host-$ONLY" ] && log "no instance sweep-host-$ONLY in $DIR"
[ "$FAILED" = 0 ] || fail "an sshd did not exit"

# A partly stopped environment must not look fully ready.
[ -n "$ONLY" ] || rm -f "$DIR/env"

if [ "$PURGE" = 1 ]; then
  if [ -s "$DIR/.created-user" ]; then
    u=$(cat "$DIR/.created-user")
    if id "$u" >/dev/null 2>&1; then
      userdel -r "$u" 2>/dev/null || log "could not delete user $u (still logged in?)"
    fi
  fi
  exec 9>&-
  rm -rf -- "$DIR"
  log "deleted $DIR"
fi
echo "SSHD STOPPED: ${stopped[*]:-nothing was running}$([ "$PURGE" = 1 ] && echo ' (purged)' || true)" >&3
