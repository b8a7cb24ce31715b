"""The in-browser explorer's Python side: data export, validation, the HTML block and
the defaults it shares with the Jupyter widgets (tests/test_explorer_browser.py runs
the page in Chromium)."""

import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch

from ntklib import explorer as ex
from ntklib import methods, optim, theory
from ntklib.dynamics import heavy_ball_iterates, squared_loss
from ntklib.spectrum import KernelSpectrum

ROOT = Path(__file__).resolve().parent.parent


def _kernel(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, 2 * n, generator=g, dtype=torch.float64)
    H = A @ A.T / (2 * n) + 0.1 * torch.eye(n, dtype=torch.float64)
    return H, torch.randn(n, generator=g, dtype=torch.float64)


def test_export_reconstructs_the_kernel_and_the_initial_error():
    H, d0 = _kernel()
    data = ex.explorer_data(H, d0)
    spec = KernelSpectrum(H)
    lam = torch.tensor(data["eigenvalues"], dtype=torch.float64)
    c = torch.tensor(data["modes"], dtype=torch.float64)
    Q = spec.eigenvectors
    assert torch.allclose(Q @ torch.diag(lam) @ Q.T, H, atol=1e-13)
    assert torch.allclose(Q @ c, d0, atol=1e-13)
    assert (
        data["n"] == 6
        and data["lambda_min"] == lam[0]
        and data["lambda_max"] == lam[-1]
    )
    assert abs(data["loss0"] - 0.5 * float(c @ c)) < 1e-13
    assert list(lam) == sorted(lam)


def test_export_is_json_and_repr_exact():
    H, d0 = _kernel()
    data = ex.explorer_data(H, d0)
    back = json.loads(json.dumps(data, allow_nan=False))
    assert back == data  # every float64 survives the round trip bit for bit
    assert all(type(v) is float for v in data["eigenvalues"] + data["modes"])


def test_float32_and_spectrum_inputs_give_float64_data():
    H, d0 = _kernel()
    a = ex.explorer_data(H.float(), d0.float())
    b = ex.explorer_data(KernelSpectrum(H), d0)
    assert a["n"] == b["n"] == 6
    assert max(abs(x - y) for x, y in zip(a["eigenvalues"], b["eigenvalues"])) < 1e-5


def test_defaults_are_the_shared_constants():
    H, d0 = _kernel()
    data = ex.explorer_data(H, d0)
    d = data["defaults"]
    lr = ex.LR_FRACTION * 2 / data["lambda_max"]
    assert d["lr_fraction"] == ex.LR_FRACTION and d["steps"] == ex.STEPS
    assert d["gamma"] == methods.get("nesterov").check()["gamma"]
    assert d["method"] == "heavy_ball"
    assert d["momentum"] == ex.default_momentum(lr, data["lambda_min"])
    # the default momentum is the heavy ball of friction FRICTION_RATIO * b_c
    b = optim.friction_from_momentum(d["momentum"], lr)
    b_c = theory.critical_friction(data["lambda_min"])
    assert abs(b / b_c - ex.FRICTION_RATIO) < 0.01
    assert data["ranges"]["lr_fraction"] == list(ex.LR_FRACTION_RANGE)


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        (dict(H=torch.ones(2, 3)), ValueError, "H"),
        (dict(H="kernel"), TypeError, "H"),
        (dict(delta0=torch.ones(5)), ValueError, "delta0"),
        (dict(delta0=torch.ones(2, 6)), ValueError, "delta0"),
        (dict(method="adam"), ValueError, "method"),
        (dict(methods=("gd", "adam")), ValueError, "methods"),
        (dict(methods=("gd",), method="heavy_ball"), ValueError, "method"),
        (dict(lr_fraction=2.0), ValueError, "lr_fraction"),
        (dict(lr_fraction="big"), TypeError, "lr_fraction"),
        (dict(momentum=1.0), ValueError, "momentum"),
        (dict(gamma=0.0), ValueError, "gamma"),
        (dict(betas=(0.5, 0.95)), ValueError, "betas"),
        (dict(beta2=0.5), TypeError, "beta2"),
        (dict(lr_fraction=1.9, momentum=0.5), ValueError, "lr_fraction"),
        (dict(nu=1.5), ValueError, "nu"),
        (dict(steps=0), ValueError, "steps"),
        (dict(steps=2.5), TypeError, "steps"),
        (dict(compare="yes"), TypeError, "compare"),
        (dict(H=-torch.eye(6, dtype=torch.float64)), ValueError, "positive"),
        (
            dict(H=torch.zeros(6, 6, dtype=torch.float64)),
            ValueError,
            "positive definite",
        ),
    ],
)
def test_validation_names_the_argument(kwargs, error, name):
    H, d0 = _kernel()
    H, d0 = kwargs.pop("H", H), kwargs.pop("delta0", d0)
    with pytest.raises(error, match=name):
        ex.explorer_data(H, d0, **kwargs)


def test_element_id_is_checked():
    H, d0 = _kernel()
    with pytest.raises(ValueError, match="element_id"):
        ex.explorer_html(H, d0, element_id='x"><script>')


def test_html_is_self_contained_and_the_data_round_trips():
    H, d0 = _kernel()
    html = ex.explorer_html(H, d0, element_id="ex1", method="nesterov")
    assert not re.search(r"https?://", html), "no URL: offline, no CDN"
    assert not re.search(r"<script[^>]*\bsrc=", html) and "<link" not in html
    assert html.count("<script") == 3 and "<noscript>" in html
    m = re.search(r'<script type="application/json" id="ex1-data">(.*?)</script>', html)
    assert json.loads(m.group(1)) == ex.explorer_data(H, d0, method="nesterov")
    assert 'window.ntklibExplorer.init("ex1")' in html
    assert "mathjax_ignore" in html  # the page's MathJax leaves the block alone


def test_each_block_gets_a_unique_id():
    H, d0 = _kernel()
    ids = {
        re.search(r'id="(ntkx-[0-9a-f]+)"', ex.explorer_html(H, d0)).group(1)
        for _ in range(5)
    }
    assert len(ids) == 5


def test_explorer_returns_html_and_writes_the_json(tmp_path):
    H, d0 = _kernel()
    out = tmp_path / "explorer.json"
    obj = ex.explorer(H, d0, json_path=out, steps=50)
    from IPython.display import HTML

    assert isinstance(obj, HTML) and "ntklibExplorer" in obj.data
    assert obj._repr_html_() == obj.data
    assert "interactive explorer" in repr(obj) and "ntkx" not in repr(obj)
    assert json.loads(out.read_text()) == ex.explorer_data(H, d0, steps=50)


def test_assets_are_package_data_and_small():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"]["package-data"]["ntklib"]
    for name in ("explorer.js", "explorer.css"):
        assert name in data
        assert (ROOT / "ntklib" / name).stat().st_size < 40_000
    js = (ROOT / "ntklib" / "explorer.js").read_text()
    assert "http" not in js and "<!--" not in js  # inline-safe: nothing ends
    assert not re.search("</script", js, flags=re.I)  # the <script> early


def test_reference_is_ntklib_dynamics():
    H, d0 = _kernel()
    ref = ex.explorer_reference(H, d0, "heavy_ball", momentum=0.7, steps=30)
    spec = KernelSpectrum(H)
    lr = ex.LR_FRACTION * 2 / spec.lambda_max
    loss = squared_loss(heavy_ball_iterates(H, d0, 30, lr, 0.7))
    assert torch.equal(ref["loss"], loss) and ref["lr"] == lr
    assert ref["rate"] == float((loss[-1] / loss[0]) ** (1 / 60))
    # the chapters' rho: the largest root modulus of z^2 - (1 + b - h) z + b
    roots = [
        np.abs(np.roots([1, -(1 + 0.7 - lr * v), 0.7])).max()
        for v in spec.eigenvalues.tolist()
    ]
    assert ref["rho"] == pytest.approx(max(roots), rel=1e-12)


def test_reference_special_cases_agree():
    """two-step with beta2 = 0 is heavy ball; QHM with nu = 0 is GD."""
    H, d0 = _kernel()
    kw = dict(lr_fraction=0.8, steps=40)
    hb = ex.explorer_reference(H, d0, "heavy_ball", momentum=0.6, **kw)
    two = ex.explorer_reference(H, d0, "two_step_momentum", betas=(0.6, 0.0), **kw)
    gd = ex.explorer_reference(H, d0, "gd", **kw)
    qhm = ex.explorer_reference(H, d0, "quasi_hyperbolic", momentum=0.9, nu=0.0, **kw)
    assert abs(two["final_loss"] / hb["final_loss"] - 1) < 1e-9
    assert abs(qhm["final_loss"] / gd["final_loss"] - 1) < 1e-9


def test_reference_stability_follows_theory():
    H, d0 = _kernel()
    assert not ex.explorer_reference(H, d0, "gd", lr_fraction=1.05)["stable"]
    assert ex.explorer_reference(H, d0, "heavy_ball", lr_fraction=1.05, momentum=0.1)[
        "stable"
    ]
    assert not ex.explorer_reference(H, d0, "nesterov", lr_fraction=0.7)["stable"]


@pytest.mark.parametrize("key", ex.METHODS)
def test_every_method_of_the_page_is_its_record(key):
    """The page's table is the registry's: labels, style, coefficients, formula."""
    H, d0 = _kernel()
    data = ex.explorer_data(H, d0, methods=ex.METHODS)
    (entry,) = [m for m in data["methods"] if m["key"] == key]
    record = methods.get(key)
    assert entry["q"] == list(record.recurrence.q)
    assert entry["r"] == list(record.recurrence.r)
    assert entry["short"] == record.short and entry["color"] == record.style["color"]
    assert entry["params"] == list(record.names)
    for name in record.names:  # every parameter has its slider and a default
        assert name in data["controls"] and name in data["defaults"]
    # the slider reaches past the stable step at the default settings
    params = {k: data["defaults"][k] for k in record.names}
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    h_star = methods.stable_lr(key, 1.0, **params)[0]
    assert ex.lr_fraction_max(key, **params) >= max(1.2 * h_star / 2, 1.5)


def test_every_expression_method_of_the_registry_is_offered():
    offered = {
        k
        for k, m in methods.METHODS.items()
        if m.recurrence.expressions and m.mode_eigenvalue is None and not m.needs_data
    }
    assert offered == set(ex.METHODS) and len(offered) >= 6


def test_heavy_ball_slider_reaches_past_its_limit_at_the_default_momentum():
    """Issue 24: with beta = 0.53 the slider stopped at eta lambda_max = 3 < 3.06."""
    top = ex.lr_fraction_max("heavy_ball", momentum=0.53)
    assert 2 * top > 2 * (1 + 0.53)


def _fake_ipywidgets(monkeypatch):
    """ipywidgets stand-in that records the sliders the explorers build."""
    made = {}

    def widget(kind):
        def make(**kwargs):
            made[kind] = kwargs
            return kwargs

        return make

    fake = types.SimpleNamespace(
        FloatSlider=widget("FloatSlider"),
        FloatLogSlider=widget("FloatLogSlider"),
        SelectionSlider=widget("SelectionSlider"),
        interact=lambda f, **kw: kw,
        interact_manual=lambda f, **kw: kw,
    )
    monkeypatch.setitem(sys.modules, "ipywidgets", fake)
    return made


def test_jupyter_widgets_use_the_shared_defaults(monkeypatch):
    from ntklib import widgets

    made = _fake_ipywidgets(monkeypatch)
    H, d0 = _kernel()
    widgets.friction_explorer(H, d0)
    widgets.gd_explorer(torch.zeros(4, 2), torch.zeros(4))
    ratio, lr = made["FloatLogSlider"], made["FloatSlider"]
    assert ratio["value"] == ex.FRICTION_RATIO
    assert (ratio["min"], ratio["max"], ratio["step"]) == ex.FRICTION_RATIO_LOG10_RANGE
    assert (
        lr["value"]
        == ex.LR_FRACTION
        == ex.explorer_data(H, d0)["defaults"]["lr_fraction"]
    )
    assert (lr["min"], lr["max"], lr["step"]) == ex.LR_FRACTION_RANGE
