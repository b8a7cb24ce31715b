"""ntklib.checks (one call per claim) and the robustness table built from its logs."""

import json
import math

import numpy as np
import pytest
import torch

import ntklib.profiles as profiles
from ntklib.checks import CheckFailed, Checks


def test_margins_have_one_scale():
    c = Checks("t", quiet=True)
    c.within("on target", 1.0, 1.0, rtol=0.1)
    c.within("on the edge", 1.25, 1.0, rtol=0.25)
    c.between("middle", 2.0, 1.0, 3.0)
    c.less("half the bound", 1.0, 2.0)
    c.greater("twice the bound", 4.0, 2.0)
    c.less("below zero", -0.5, 0.0, scale=0.25)
    got = [r.margin for r in c.records]
    assert got == pytest.approx([1.0, 0.0, 1.0, 0.5, 1.0, 2.0], abs=1e-12)
    assert all(r.passed for r in c.records)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.within("x", 1.2, 1.0, rtol=0.1),
        lambda c: c.between("x", 0.5, 1.0, 3.0),
        lambda c: c.less("x", 3.0, 2.0),
        lambda c: c.greater("x", 1.0, 2.0),
        lambda c: c.less("x", float("nan"), 2.0),
        lambda c: c.within("x", float("inf"), 1.0, atol=1.0),
    ],
)
def test_a_false_claim_raises_with_its_line(call):
    with pytest.raises(CheckFailed, match=r"^✗ x: .*margin"):
        call(Checks("t"))
    assert issubclass(CheckFailed, AssertionError)


def test_tensors_and_numpy_scalars_are_values(capsys):
    c = Checks("t")
    c.within("a 0-d tensor", torch.tensor(0.99, dtype=torch.float64), 1.0, rtol=0.02)
    c.less("a numpy scalar", np.float32(0.5), 1.0)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "✓ a 0-d tensor: 0.99 ∈ 1 ± 0.02 (margin 50%)"
    assert out[1] == "✓ a numpy scalar: 0.5 < 1 (margin 50%)"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda c: c.within("x", [1.0], 1.0, rtol=0.1), "value must be a real"),
        (lambda c: c.within("x", 1.0, 1.0), "positive tolerance"),
        (lambda c: c.between("x", 1.0, 2.0, 1.0), "lo must be below hi"),
        (lambda c: c.less("", 1.0, 2.0), "claim must be"),
        (lambda c: c.less("x", torch.ones(2), 2.0), "0-d tensor"),
        (lambda c: c.less("x", True, 2.0), "value must be a real"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call(Checks("t"))


def test_log_records_and_no_raise_mode(tmp_path, monkeypatch, capsys):
    log = tmp_path / "checks.jsonl"
    monkeypatch.setenv("NTKLIB_CHECK_LOG", str(log))
    monkeypatch.setenv("NTKLIB_CHECKS_RAISE", "0")
    monkeypatch.setenv("NTKLIB_SEED", "3")
    c = Checks("ch99_test")
    c.less("fails but is logged", 2.0, 1.0, why="a test")
    c.greater("passes", 2.0, 1.0)
    assert "✗ fails but is logged" in capsys.readouterr().out
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["passed"] for r in recs] == [False, True]
    assert recs[0]["scope"] == "ch99_test" and recs[0]["seed"] == 3
    assert recs[0]["why"] == "a test" and recs[0]["margin"] == pytest.approx(-1.0)
    assert recs[1]["hi"] == math.inf


def test_seed_shifts_every_draw(monkeypatch):
    monkeypatch.delenv("NTKLIB_SEED", raising=False)
    assert profiles.seed() == 0 and profiles.seed(7) == 7
    monkeypatch.setenv("NTKLIB_SEED", "4")
    assert profiles.seed(7) == 7 + 4 * profiles.SEED_STRIDE
    for bad in ("-1", "x", "1.5"):
        monkeypatch.setenv("NTKLIB_SEED", bad)
        with pytest.raises(ValueError, match="NTKLIB_SEED"):
            profiles.seed(0)
    monkeypatch.setenv("NTKLIB_SEED", "0")
    with pytest.raises(ValueError, match="base"):
        profiles.seed(profiles.SEED_STRIDE)
    with pytest.raises(TypeError, match="base"):
        profiles.seed(1.0)


def test_robustness_table_keeps_the_worst_run(tmp_path, monkeypatch):
    from booktools import robustness

    monkeypatch.setattr(robustness, "LOGS", tmp_path)
    monkeypatch.setattr(robustness, "TABLES", tmp_path / "tables")
    monkeypatch.setenv("NTKLIB_CHECKS_RAISE", "0")
    for label, value in (("seed 0", 0.5), ("seed 1", 1.5), ("seed 2", 0.9)):
        monkeypatch.setenv("NTKLIB_CHECK_LOG", str(tmp_path / f"{label}.jsonl"))
        monkeypatch.setattr(
            robustness, "_slug", lambda s: s
        )  # one log per label, as run_all writes them
        Checks("nb_a", quiet=True).less("x below 1", value, 1.0)
    rows = robustness.aggregate(robustness.read_logs(), {"nb_a"})
    row = rows[("nb_a", "x below 1")]
    assert row["worst_margin"] == pytest.approx(-0.5) and row["worst_run"] == "seed 1"
    assert row["failed"] == ["seed 1"]
    robustness.write_table(rows, {"nb_a", "nb_b"}, ["seed 0", "seed 1"])
    saved = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "tables").iterdir()}
    assert saved["nb_b"]["checks"] == [] and saved["nb_a"]["runs"] == [
        "seed 0",
        "seed 1",
    ]
    assert saved["nb_a"]["checks"][0]["claim"] == "x below 1"
