"""The benchmark's code paths run and agree with their references (at tiny sizes; no timing asserted)."""

from ntklib import bench


def test_bench_rows_at_small_size():
    rows = bench.bench_kernel("cpu", 0.01, n=16, d=4, m=64) + bench.bench_heavy_ball(
        "cpu", 0.01, n=16, d=4, m=64
    )
    assert len(rows) == 5
    err = float(rows[0][3].split()[-1])
    assert err < 1e-5  # closed form vs torch.func, float32
    assert all(r[2] > 0 for r in rows)
    fp64_diff = float(rows[3][3].split("=")[-1])
    assert fp64_diff < 1e-12  # identical heavy-ball iterates


def test_spectrum_cache_rows_agree():
    rows = bench.bench_spectrum_cache("cpu", 0.01, n=16, d=4, frictions=3, T=5)
    assert len(rows) == 2 and all(r[2] > 0 for r in rows)
    assert float(rows[0][3].split()[-1]) < 1e-12  # same flows either way


def test_generic_kernel_rows_agree():
    rows = bench.bench_generic_kernel("cpu", 0.01, n=8, d=4, width=16)
    assert len(rows) == 2 and all(r[2] > 0 for r in rows)
    assert "parameters" in rows[0][0]
    assert float(rows[1][3].split()[-1]) < 1e-5  # generic vs closed form, float32


def test_gauss_newton_step_rows():
    rows = bench.bench_gauss_newton_step("cpu", 0.01, n=8, d=4, m=64)
    assert len(rows) == 2 and all(r[2] > 0 for r in rows)
    assert "multiply-add ratio" in rows[1][3]
