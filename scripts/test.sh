#!/usr/bin/env bash
# Runs sweep's whole test suite on a fresh machine, installing what it needs first.
#
#   scripts/test.sh            # everything: format, lints, module graph, unit, integration and
#                              # doc tests, and the Python package's pytest suite
#
# Needs: a Rust toolchain (cargo); installs Python 3 (for the example training scripts) and
# its venv and pip modules (for the managed-environment tests, which install from PyPI) with
# apt when they are missing and the script runs as root.
# As root it also installs Chromium (apt) and MLflow (pip, into /opt/sweep-mlflow), MLflow 2's client (into /opt/sweep-mlflow2) and azureml-core (pip, into /opt/sweep-azureml) for the
# report, MLflow and Azure ML tests. The Python package (python/) is built with maturin and tested with
# pytest in a virtual environment under target/ (maturin, pytest, Optuna, pandas from PyPI).
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

# Managed environments are tested with real `python3 -m venv` and pip (tests/integration/envs.rs);
# Debian and Ubuntu ship venv's ensurepip and pip in separate packages.
venv_works() {
  # Debian can ship the ensurepip module without the wheels it installs, so only a real
  # virtualenv tells.
  local tmp ok=1
  tmp=$(mktemp -d)
  if python3 -m venv "$tmp/v" >/dev/null 2>&1 && "$tmp/v/bin/python" -m pip --version >/dev/null 2>&1; then
    ok=0
  fi
  rm -rf "$tmp"
  return "$ok"
}

need_venv() {
  if venv_works && python3 -m pip --version >/dev/null 2>&1; then
    return
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing python3-venv and python3-pip"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >/dev/null
  else
    echo "python3's venv and pip modules are required (Debian/Ubuntu: apt-get install python3-venv python3-pip)" >&2
    exit 1
  fi
}

need_python
need_venv
command -v cargo >/dev/null 2>&1 || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }

# The remote-target tests run against real services: loopback sshd hosts and a single-node
# Slurm cluster (docs/test-env.md). They start in the background while the code builds; the
# tests start them again themselves (idempotent) and, under CI, fail if they cannot.
SERVICES_PID=""
if [ "$(id -u)" = 0 ]; then
  log "starting the test services in the background (SSH hosts, Slurm)"
  ( scripts/env/start-sshd.sh && scripts/env/start-slurm.sh ) >/tmp/sweep-test-services.log 2>&1 &
  SERVICES_PID=$!
else
  echo "not root: the SSH and Slurm target tests cannot start their services (they fail under CI)" >&2
fi

# The report test opens the HTML report in a real headless Chromium (Debian's `chromium`),
# the MLflow test logs to a real `mlflow server` (from PyPI, in a virtual environment
# under /opt), and the live-view test drives a terminal with tmux (apt). They install in
# the background while the code builds; under CI the tests fail if one is missing.
MLFLOW_VENV="${SWEEP_MLFLOW_VENV:-/opt/sweep-mlflow}"
# The Azure ML tests also run a v1 script with the real azureml-core (PyPI, Python 3.11;
# about a minute to install once, then kept like MLflow's environment).
AZUREML_VENV="${SWEEP_AZUREML_VENV:-/opt/sweep-azureml}"
# and MLflow 2's client (`mlflow-skinny<3`), which many training environments still pin.
MLFLOW2_VENV="${SWEEP_MLFLOW2_VENV:-/opt/sweep-mlflow2}"
# The test services may be installing with apt at the same moment: wait for its lock.
apt_retry() {
  local i
  for i in 1 2 3 4 5 6; do
    if DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@" >/dev/null; then return 0; fi
    echo "apt-get $* failed (try $i); retrying" >&2
    sleep 10
  done
  return 1
}
install_test_tools() {
  if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium and fonts-liberation (apt, no recommends)"
    apt_retry update -qq
    apt_retry install -y -qq --no-install-recommends chromium fonts-liberation
  fi
  chromium --version
  # The live-view test runs `sweep run` in a real pseudo-terminal under tmux.
  if ! command -v tmux >/dev/null 2>&1; then
    echo "installing tmux (apt)"
    apt_retry install -y -qq --no-install-recommends tmux
  fi
  tmux -V
  if [ ! -x "$MLFLOW_VENV/bin/mlflow" ]; then
    echo "installing mlflow (pip) into $MLFLOW_VENV"
    python3 -m venv "$MLFLOW_VENV"
    "$MLFLOW_VENV/bin/pip" install -q --disable-pip-version-check mlflow
  fi
  "$MLFLOW_VENV/bin/mlflow" --version
  if [ ! -x "$AZUREML_VENV/bin/python" ] || ! "$AZUREML_VENV/bin/python" -c 'import azureml.core' 2>/dev/null; then
    echo "installing azureml-core (pip) into $AZUREML_VENV"
    python3 -m venv "$AZUREML_VENV"
    "$AZUREML_VENV/bin/pip" install -q --disable-pip-version-check azureml-core
  fi
  "$AZUREML_VENV/bin/python" -c 'import azureml.core; print("azureml-core", azureml.core.VERSION)'
  if [ ! -x "$MLFLOW2_VENV/bin/python" ] || ! "$MLFLOW2_VENV/bin/python" -c 'import mlflow' 2>/dev/null; then
    echo "installing mlflow-skinny<3 (pip) into $MLFLOW2_VENV"
    python3 -m venv "$MLFLOW2_VENV"
    "$MLFLOW2_VENV/bin/pip" install -q --disable-pip-version-check 'mlflow-skinny<3'
  fi
  "$MLFLOW2_VENV/bin/python" -c 'import mlflow; print("mlflow (2)", mlflow.__version__)'
}
TOOLS_PID=""
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  log "installing the browser, tmux, MLflow (3 and 2) and azureml-core for the report, live-view, MLflow and Azure ML tests in the background"
  install_test_tools >/tmp/sweep-test-tools.log 2>&1 &
  TOOLS_PID=$!
fi
export SWEEP_TEST_MLFLOW="${SWEEP_TEST_MLFLOW:-$MLFLOW_VENV/bin/mlflow}"
export SWEEP_TEST_AZUREML_PYTHON="${SWEEP_TEST_AZUREML_PYTHON:-$AZUREML_VENV/bin/python}"
export SWEEP_TEST_MLFLOW2_PYTHON="${SWEEP_TEST_MLFLOW2_PYTHON:-$MLFLOW2_VENV/bin/python}"

# The Python package's tests (python/tests) run in a virtual environment of their own with
# maturin, pytest, Optuna and pandas from PyPI; it is made (or updated) in the background
# while the Rust code builds, and kept under target/ between runs.
PY_VENV="${SWEEP_PY_VENV:-$PWD/target/python-venv}"
python_test_env() {
  if [ ! -x "$PY_VENV/bin/python" ]; then python3 -m venv "$PY_VENV"; fi
  "$PY_VENV/bin/pip" install -q --disable-pip-version-check -r python/requirements-test.txt
  "$PY_VENV/bin/python" -c 'import maturin, optuna, pandas, pytest; print("python test env:", optuna.__version__, pandas.__version__, pytest.__version__)'
}
log "preparing the Python package's test environment in the background"
python_test_env >/tmp/sweep-python-env.log 2>&1 &
PY_ENV_PID=$!

log "format"
cargo fmt --all -- --check

log "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The library's top-level modules must depend on each other one way only; the checker is
# checked first, on synthetic trees, so that it cannot pass by seeing nothing.
log "module graph"
python3 scripts/module-graph.py --self-test
python3 scripts/module-graph.py

# --all-targets also builds the criterion benches and runs each once in test mode, so a
# broken bench fails here without a separate release build.
if [ -n "$SERVICES_PID" ]; then
  wait "$SERVICES_PID" || { tail -n 30 /tmp/sweep-test-services.log >&2; echo "the test services did not start" >&2; exit 1; }
  grep -E 'READY' /tmp/sweep-test-services.log >&2 || true
fi

if [ -n "$TOOLS_PID" ]; then
  wait "$TOOLS_PID" || { tail -n 30 /tmp/sweep-test-tools.log >&2; echo "installing chromium, mlflow or azureml-core failed" >&2; exit 1; }
  cat /tmp/sweep-test-tools.log >&2
fi

log "unit, integration and doc tests, benches in test mode"
cargo test --all-targets --locked
cargo test --doc --locked

log "API docs (broken links are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet

# Examples are only built by --all-targets, which leaves them under hashed names; `cargo
# build --examples` (links only) puts them at target/debug/examples/NAME, where the Python
# package's tests run them. Run the library's with small budgets (they exit non-zero when
# the study learns nothing or trials fail).
log "library examples"
cargo build --locked --quiet --examples
example_ws=$(mktemp -d)
trap 'rm -rf "$example_ws"' EXIT
cargo run --locked --quiet --example tune_mlp -- --trials 12 --epochs 15 --workspace "$example_ws"
cargo run --locked --quiet --example ask_tell_process -- --trials 4 --workspace "$example_ws"

# The Python package, built once in the dev profile: it reuses the sweep library and the
# dependencies the examples above compiled, so only PyO3 and the bindings crate build here.
# The tests drive the real `sweep` binary and examples built by `cargo test` above.
log "Python package: build, install into $PY_VENV, pytest"
wait "$PY_ENV_PID" || { cat /tmp/sweep-python-env.log >&2; echo "preparing the Python test environment failed" >&2; exit 1; }
cat /tmp/sweep-python-env.log >&2
rm -rf target/python-wheels
"$PY_VENV/bin/maturin" build --quiet --locked --manifest-path python/Cargo.toml --out target/python-wheels
"$PY_VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps target/python-wheels/*.whl
SWEEP_BIN="$PWD/target/debug/sweep" SWEEP_EXAMPLES="$PWD/target/debug/examples" \
  "$PY_VENV/bin/pytest" -q -p no:cacheprovider python/tests
