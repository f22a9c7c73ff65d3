"""Studies from config files: every broken config of ``configs/invalid`` raises
``ConfigError`` with the problem at the location its first line states and the very text
``sweep validate`` prints; a valid config gives the CLI's definition."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import REPO

import sweep

INVALID = sorted((REPO / "configs" / "invalid").glob("*.yml"))


def runconfig_for(cfg: Path):
    """As tests/integration/config.rs: a broken config's own runconfig, none for v2 jobs,
    else the example one."""
    own = cfg.parent / "runconfigs" / f"{cfg.stem}.runconfig"
    if own.exists():
        return own
    if cfg.stem.startswith("v2"):
        return None
    return REPO / "configs" / "train.runconfig"


def stated_location(cfg: Path):
    m = re.search(r"error at (.+):(\d+):(\d+)\)", cfg.read_text().splitlines()[0])
    assert m, f"{cfg} states no location"
    return cfg.parent / m.group(1), int(m.group(2)), int(m.group(3))


def test_there_are_broken_configs():
    assert len(INVALID) >= 20


@pytest.mark.parametrize("cfg", INVALID, ids=lambda p: p.stem)
def test_a_broken_config_raises_config_error_at_its_mistake(cfg, tmp_path, cli):
    rc = runconfig_for(cfg)
    with pytest.raises(sweep.ConfigError) as e:
        sweep.create_study(config=cfg, runconfig=rc, workspace=tmp_path / "ws")
    err = e.value
    assert isinstance(err, sweep.SweepError)
    file, line, col = stated_location(cfg)
    hits = [p for p in err.errors if (Path(p.file), p.line, p.column) == (file, line, col)]
    assert hits, f"expected an error at {file}:{line}:{col}, got:\n{err}"
    p = hits[0]
    assert p.severity == "error" and p.message and p.location == f"{file}:{line}:{col}"
    assert p.rendered.startswith(f"error: {p.message}") and f"--> {file}:{line}:{col}" in p.rendered
    # The same text the command line prints, every problem included.
    args = ["validate", str(cfg)] + (["-c", str(rc)] if rc else [])
    out = cli.run(*args, check=False)
    assert out.returncode == 2
    assert str(err).strip() in out.stderr
    for problem in err.problems:
        assert problem.rendered in str(err)


def test_a_valid_config_gives_the_clis_definition(tmp_path):
    cfg = REPO / "configs" / "bayesian.yml"
    study = sweep.create_study(config=cfg, runconfig=REPO / "configs" / "train.runconfig", workspace=tmp_path / "ws", seed=3)
    d = study.definition()
    assert study.name == "bayesian" and study.seed == 3
    assert d["sampling"] == "bayesian"
    names = [n for n, _ in d["space"]]
    trial = study.ask()
    assert list(trial.params) == names
    assert trial.argv[1].endswith("train.py")  # the runconfig's script, then the parameters
    # The builder's arguments override the config.
    study.close()
    other = sweep.create_study(config=cfg, runconfig=REPO / "configs" / "train.runconfig", workspace=tmp_path / "ws2", max_total_runs=3, name="short")
    assert other.definition()["max_total_runs"] == 3 and other.name == "short"


def test_a_missing_config_is_a_located_config_error(tmp_path):
    with pytest.raises(sweep.ConfigError) as e:
        sweep.create_study(config=tmp_path / "nope.yml", workspace=tmp_path / "ws")
    [p] = e.value.problems
    assert p.line is None and p.file.endswith("nope.yml") and "check the path" in (p.hint or "")
