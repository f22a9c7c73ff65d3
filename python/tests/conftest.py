"""Shared fixtures: the repository, the real ``sweep`` binary and the Rust examples the
equivalence tests run, and a fresh workspace per test.

The binary and examples come from the workspace's cargo build (``scripts/test.sh`` builds
them before running pytest). ``SWEEP_BIN`` and ``SWEEP_EXAMPLES`` point elsewhere; a
missing binary fails the tests that need it, with the command that builds it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import REPO, Cli


def _built(env: str, default: Path, build: str) -> Path:
    path = Path(os.environ.get(env) or default)
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with `{build}` (or set {env})", pytrace=False)
    return path


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def sweep_bin() -> Path:
    return _built("SWEEP_BIN", REPO / "target" / "debug" / "sweep", "cargo build --bin sweep")


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return _built("SWEEP_EXAMPLES", REPO / "target" / "debug" / "examples", "cargo build --examples")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return tmp_path / "ws"


@pytest.fixture
def cli(sweep_bin: Path, ws: Path) -> Cli:
    return Cli(sweep_bin, ws)
