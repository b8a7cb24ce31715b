"""The book's palette and the contrast checks of ntklib.plotting.

References: colorspacious (CAM02-UCS and Machado et al.'s colour-vision-deficiency
simulation) for telling colours apart; WebAIM's published WCAG ratios for
contrast_ratio.
"""

import itertools

import colorspacious
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgb

from ntklib.plotting import PALETTE, contrast_ratio, figure, low_contrast_artists

DEFICIENCIES = ["deuteranomaly", "protanomaly", "tritanomaly"]


def _seen(colour, deficiency=None):
    rgb = np.asarray(to_rgb(colour))
    if deficiency is not None:
        space = {"name": "sRGB1+CVD", "cvd_type": deficiency, "severity": 100}
        rgb = np.clip(colorspacious.cspace_convert(rgb, space, "sRGB1"), 0, 1)
    return colorspacious.cspace_convert(rgb, "sRGB1", "CAM02-UCS")


def _closest_pair(colours, deficiency=None):
    return min(
        np.linalg.norm(_seen(a, deficiency) - _seen(b, deficiency))
        for a, b in itertools.combinations(colours, 2)
    )


@pytest.mark.parametrize(
    "fg, bg, expected",
    # WebAIM contrast checker values
    [
        ("#767676", "#FFFFFF", 4.54),
        ("#777777", "#FFFFFF", 4.48),
        ("#0000FF", "white", 8.59),
    ],
)
def test_contrast_ratio_matches_published_values(fg, bg, expected):
    assert contrast_ratio(fg, bg) == pytest.approx(expected, abs=0.006)
    assert contrast_ratio(bg, fg) == pytest.approx(expected, abs=0.006)


def test_palette_has_graphics_contrast_on_white():
    ratios = [contrast_ratio(c) for c in PALETTE]
    assert min(ratios) >= 3.0, dict(zip(PALETTE, ratios))


@pytest.mark.parametrize("deficiency", [None] + DEFICIENCIES)
def test_palette_colours_stay_apart_under_colour_blindness(deficiency):
    assert _closest_pair(PALETTE, deficiency) >= 10.0


def test_the_checks_reject_matplotlibs_default_cycle():
    """tab10 (Matplotlib's default) fails both: orange and cyan are under 3:1, and
    its green and orange merge for a deuteranope. The tests above can fail."""
    tab10 = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    assert min(contrast_ratio(c) for c in tab10) < 3.0
    assert _closest_pair(tab10[:6], "deuteranomaly") < 10.0


@pytest.mark.pale_lines_allowed
def test_figures_cycle_through_the_palette_and_pale_lines_are_found():
    fig, (a, b) = figure(2)
    lines = [a.plot([0, 1])[0] for _ in PALETTE]
    assert [line.get_color() for line in lines] == list(PALETTE)
    assert low_contrast_artists(fig) == []
    b.plot([0, 1], color="#E69F00", label="orange")
    b.plot([0, 1], color="k", alpha=0.2, label="faint black")
    found = {label: ratio for label, _, ratio in low_contrast_artists(fig)}
    assert set(found) == {"orange", "faint black"}
    assert found["orange"] == pytest.approx(2.25, abs=0.01)
    plt.close(fig)


@pytest.mark.parametrize("bad", ["not a colour", 3])
def test_contrast_ratio_rejects_non_colours(bad):
    with pytest.raises(ValueError, match="foreground"):
        contrast_ratio(bad)


def test_low_contrast_artists_validates_min_ratio():
    fig, _ = figure()
    with pytest.raises(ValueError, match="min_ratio"):
        low_contrast_artists(fig, 0.5)
    plt.close(fig)


@pytest.mark.pale_lines_allowed
def test_lines_over_a_heat_map_are_not_checked_against_white():
    fig, (plain, heat) = figure(2)
    heat.pcolormesh(np.random.default_rng(0).random((4, 4)))
    heat.plot([0, 4], [0, 4], color="w", label="contour over the map")
    plain.plot([0, 1], color="w", label="white on white")
    assert [label for label, *_ in low_contrast_artists(fig)] == ["white on white"]
    plt.close(fig)


def test_methods_keep_one_style_across_figures_and_differ_in_more_than_colour():
    """Every record's style: in the palette, and told apart without colour."""
    from ntklib.methods import METHODS
    from ntklib.plotting import method_style

    styles = [method_style(key) for key in METHODS]
    assert all(s["color"] in PALETTE for s in styles)
    shapes = [(str(s["linestyle"]), s.get("marker")) for s in styles]
    assert len(set(shapes)) == len(shapes), "two methods differ by colour only"
    assert method_style("HB") == method_style("heavy_ball")  # short label or key
    assert method_style("not a method") == {}
    with pytest.raises(TypeError, match="name"):
        method_style(3)
