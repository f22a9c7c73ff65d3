# shellcheck shell=bash
# Helpers shared by the scripts in scripts/env/. Sourced, never run directly.
#
# The caller sets ENV_TAG (prefix for progress lines) before sourcing, and
# defines its own `fail` (which prints the final "... FAILED:" line).

export LC_ALL=C
umask 022

# Root of all test-environment state; each service has a subdirectory.
SWEEP_TEST_ENV_DIR=${SWEEP_TEST_ENV_DIR:-/tmp/sweep-test-env}
ENV_T0=$(date +%s%N)

log() { printf '[%s] %s\n' "${ENV_TAG:-env}" "$*" >&2; }

# Seconds since the script started, with one decimal.
elapsed() {
  local ms=$(( ($(date +%s%N) - ENV_T0) / 1000000 ))
  printf '%d.%d' $((ms / 1000)) $(((ms % 1000) / 100))
}

require_root() {
  [ "$(id -u)" -eq 0 ] || fail "must run as root (uses apt, starts daemons as root)"
}

# take_lock DIR: serialise all start/stop calls for one service. The lock is
# held on fd 9 until the script exits. Every daemon is started with 9>&- so that
# it does not keep the lock after we are gone, and with 3>&- (the scripts keep
# their real stdout on fd 3): a daemon holding it would make `$(start-x.sh)` or
# `start-x.sh | tail` wait forever.
take_lock() {
  mkdir -p "$1"
  exec 9>"$1/.lock"
  if ! flock -n 9; then
    log "another start/stop call holds $1/.lock; waiting"
    flock -w 600 9 || fail "could not take $1/.lock within 600 s"
  fi
}

# alive PID: the process exists and is not a zombie.
alive() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# owned_pid PIDFILE COMM MARKER: print the PID from PIDFILE if that process is
# alive, is called COMM, and its command line mentions MARKER (one of our own
# private paths). Anything else (stale file, reused PID, a system daemon) is
# not ours and is never signalled.
owned_pid() {
  local file=$1 comm=$2 marker=$3 pid cmd
  [ -s "$file" ] || return 1
  pid=$(tr -cd '0-9' <"$file" 2>/dev/null) || return 1
  [ -n "$pid" ] && alive "$pid" || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ "$cmd" == *"$marker"* ]] || return 1
  echo "$pid"
}

# stop_pid NAME PID: SIGTERM, wait up to 10 s, then SIGKILL. Only ever called
# with a PID that owned_pid returned.
stop_pid() {
  local name=$1 pid=$2 _
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do alive "$pid" || return 0; sleep 0.1; done
  log "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 30); do alive "$pid" || return 0; sleep 0.1; done
  return 1
}

# port_listening PORT: something listens on TCP PORT (any address). Reads
# /proc/net/tcp{,6} so that it does not depend on iproute2.
port_listening() {
  local hex
  hex=$(printf '%04X' "$1")
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }'
}

# wait_until SECONDS CMD...: retry CMD every 0.1 s until it succeeds.
wait_until() {
  local end=$(( $(date +%s) + $1 )); shift
  until "$@"; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.1
  done
}

# write_if_changed FILE MODE <content: returns 0 when FILE was (re)written.
write_if_changed() {
  local f=$1 mode=$2
  cat >"$f.tmp"
  chmod "$mode" "$f.tmp"
  if [ -f "$f" ] && cmp -s "$f" "$f.tmp"; then rm -f "$f.tmp"; return 1; fi
  mv -f "$f.tmp" "$f"
}

# write_env_file FILE <content: atomically replace FILE; also append the
# variables to $GITHUB_ENV when running under GitHub Actions.
write_env_file() {
  cat >"$1.tmp"
  mv -f "$1.tmp" "$1"
  if [ -n "${GITHUB_ENV:-}" ] && [ -w "$GITHUB_ENV" ]; then
    sed -n 's/^export //p' "$1" >>"$GITHUB_ENV" || true
  fi
}

pkg_installed() {
  dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -x 'install ok installed' >/dev/null
}

# apt_lists_usable PKG...: apt knows a candidate for every PKG and the lists
# were refreshed within a day (older lists often name versions the mirror has
# already dropped, so the download would 404). Unchanged index files keep their
# old mtime after `apt-get update`, so our own stamp counts as well as the
# Release files.
APT_STAMP=$SWEEP_TEST_ENV_DIR/.apt-updated
apt_lists_usable() {
  local p fresh
  fresh=$(find "$APT_STAMP" /var/lib/apt/lists -maxdepth 1 \( -name '.apt-updated' -o -name '*Release' \) \
    -mmin -1440 2>/dev/null | head -n1)
  [ -n "$fresh" ] || return 1
  for p in "$@"; do
    # (no `grep -q` on a pipe: with pipefail, the writer's SIGPIPE fails it)
    [[ $(apt-cache policy "$p" 2>/dev/null) == *"Candidate: "[!\(]* ]] || return 1
  done
}

# ensure_packages PKG...: install the missing ones with apt. Serialised across
# all our scripts (start-sshd and start-slurm may run at the same time), runs
# `apt-get update` first only when the lists are missing or stale, and once more
# if the install still fails. Package scripts must not start the system's own
# services (sshd on :22, munge, slurm), so a policy-rc.d that forbids it is put
# in place for the duration when there is none.
ensure_packages() {
  local missing=() p aptlog rc updated=0 policy_added=0
  for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
  [ "${#missing[@]}" -gt 0 ] || return 0
  command -v apt-get >/dev/null || fail "packages missing (${missing[*]}) and apt-get is not available"
  mkdir -p "$SWEEP_TEST_ENV_DIR"
  aptlog=$SWEEP_TEST_ENV_DIR/apt.log
  # (errexit is off inside this subshell because it is an `if` condition;
  # every step that matters exits with its own code)
  if (
    exec 8>"$SWEEP_TEST_ENV_DIR/.apt.lock"
    flock -w 900 8 || exit 3
    export DEBIAN_FRONTEND=noninteractive
    opts=(-q -y -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    todo=()
    for p in "${missing[@]}"; do pkg_installed "$p" || todo+=("$p"); done
    [ "${#todo[@]}" -gt 0 ] || exit 0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\n# temporary, from sweep scripts/env: do not start services during install\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
      policy_added=1
    fi
    trap '[ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
    if ! apt_lists_usable "${todo[@]}"; then
      echo "[$ENV_TAG] apt-get update (package lists missing or stale)" >&2
      apt-get "${opts[@]}" update >>"$aptlog" 2>&1 || exit 4
      touch "$APT_STAMP"
      updated=1
    fi
    echo "[$ENV_TAG] apt-get install ${todo[*]}" >&2
    if ! apt-get "${opts[@]}" install --no-install-recommends "${todo[@]}" >>"$aptlog" 2>&1; then
      [ "$updated" = 0 ] || exit 5
      echo "[$ENV_TAG] install failed; apt-get update and one retry" >&2
      apt-get "${opts[@]}" update >>"$aptlog" 2>&1 || exit 4
      touch "$APT_STAMP"
      apt-get "${opts[@]}" install --no-install-recommends "${todo[@]}" >>"$aptlog" 2>&1 || exit 5
    fi
  ) 3>&- 9>&-; then rc=0; else rc=$?; fi
  if [ "$rc" -ne 0 ]; then
    tail -n 25 "$aptlog" >&2 2>/dev/null || true
    case $rc in
      3) fail "timed out waiting for $SWEEP_TEST_ENV_DIR/.apt.lock" ;;
      4) fail "apt-get update failed (see $aptlog)" ;;
      *) fail "apt-get install ${missing[*]} failed (see $aptlog)" ;;
    esac
  fi
  for p in "${missing[@]}"; do pkg_installed "$p" || fail "package $p still not installed"; done
  log "installed ${missing[*]} ($(elapsed) s so far)"
}
