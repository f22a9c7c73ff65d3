#!/usr/bin/env bash
# Runs sweep's whole test suite on a fresh machine, installing what it needs first.
#
#   scripts/test.sh            # everything: format, lints, unit, integration and doc tests
#
# Needs: a Rust toolchain (cargo); installs Python 3 (for the example training scripts)
# with apt when it is missing and the script runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*" >&2; }

need_python() {
  if command -v python3 >/dev/null 2>&1; then return; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing python3"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null
  else
    echo "python3 is required for the example training scripts; install it and re-run" >&2
    exit 1
  fi
}

need_python
command -v cargo >/dev/null 2>&1 || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }

log "format"
cargo fmt --all -- --check

log "lints"
cargo clippy --all-targets --locked -- -D warnings

# --all-targets also builds the criterion benches and runs each once in test mode, so a
# broken bench fails here without a separate release build.
log "unit, integration and doc tests, benches in test mode"
cargo test --all-targets --locked
cargo test --doc --locked
