"""Helpers the tests share: the real ``sweep`` binary, child Python processes, and a
deterministic training script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Sequence

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


class Cli:
    """Runs the real ``sweep`` binary against one workspace."""

    def __init__(self, binary: Path, workspace: Path) -> None:
        self.binary = binary
        self.workspace = workspace

    def run(self, *args: str, check: bool = True, cwd: Any = None, env: Any = None, timeout: float = 300) -> subprocess.CompletedProcess:
        # The workspace right after the subcommand: anything after `--` is the program's.
        cmd: List[str] = [str(self.binary), args[0], "--workspace", str(self.workspace), *args[1:]]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"{cmd} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args).stdout)


def python_env(extra_path: Sequence[Path] = ()) -> dict:
    """The environment for child Python processes: this interpreter's, with ``extra_path``
    first on ``PYTHONPATH``."""
    env = dict(os.environ)
    parts = [str(p) for p in extra_path]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    if parts:
        env["PYTHONPATH"] = os.pathsep.join(parts)
    env["PYTHONUNBUFFERED"] = "1"
    return env

