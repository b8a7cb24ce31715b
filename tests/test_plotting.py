"""The book's palette and the contrast checks of ntklib.plotting.

References: colorspacious (CAM02-UCS and Machado et al.'s colour-vision-deficiency
simulation) for telling colours apart; WebAIM's published WCAG ratios for
contrast_ratio.
"""

import base64
import io
import itertools
import json
import re

import colorspacious
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgb

from ntklib.plotting import (
    COLUMN_PX,
    FIGURE_WIDTH,
    MIN_TEXT_PX,
    PALETTE,
    contrast_ratio,
    figure,
    low_contrast_artists,
    min_text_points,
    panel_grid,
)

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


# Figures drawn for the page: panel layout, readable text, SVG output


def _svg(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    return buffer.getvalue().decode()


def _text_points(svg: str) -> dict[str, float]:
    """The size (points) of each text Matplotlib drew in ``svg``: a text of s points
    is a group scaled by s/100 (its glyphs are outlines of 100-point letters)."""
    found = re.findall(
        r"<!-- (.*?) -->\s*<g transform=\"translate\([^)]*\) scale\(([0-9.]+) -", svg
    )
    return {text: 100 * float(scale) for text, scale in found}


@pytest.mark.parametrize("width", [1.5, 3.0, 4.4, FIGURE_WIDTH, 7.0])
def test_min_text_points_is_the_least_size_readable_on_both_screens(width):
    """Shown at min(1, column / natural width) of its size, the floor reads at
    MIN_TEXT_PX on each screen, exactly on the screen that decides."""
    points = min_text_points(width)
    shown = {
        screen: points * 96 / 72 * min(1.0, column / (96 * width))
        for screen, column in COLUMN_PX.items()
    }
    assert all(shown[s] >= MIN_TEXT_PX[s] * (1 - 1e-12) for s in shown), shown
    assert min(shown[s] / MIN_TEXT_PX[s] for s in shown) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="width"):
        min_text_points(0)


@pytest.mark.parametrize(
    ("ncols", "nrows", "width", "grid"),
    [
        (1, 1, 4.4, [(0, 0)]),
        (2, 1, 4.4, [(0, 0), (1, 0)]),  # two default panels: stacked
        (2, 1, 2.7, [(0, 0), (0, 1)]),  # two narrow ones: side by side
        (3, 1, 2.7, [(0, 0), (0, 1), (1, 0)]),  # two, then one below
        (2, 2, 4.4, [(0, 0), (1, 0), (2, 0), (3, 0)]),  # reading order kept
        (2, 2, 2.7, [(0, 0), (0, 1), (1, 0), (1, 1)]),
    ],
)
def test_figure_stacks_panels_that_do_not_fit_side_by_side(ncols, nrows, width, grid):
    fig, axes = figure(ncols, nrows, width=width)
    axes = np.atleast_1d(axes)
    boxes = [ax.get_position() for ax in axes]
    rows = sorted({round(b.y0, 3) for b in boxes}, reverse=True)
    cols = sorted({round(b.x0, 3) for b in boxes})
    seen = [(rows.index(round(b.y0, 3)), cols.index(round(b.x0, 3))) for b in boxes]
    assert seen == grid
    assert len(fig.get_axes()) == ncols * nrows, "no empty panel is left"
    n_rows, n_cols = max(r for r, _ in grid) + 1, max(c for _, c in grid) + 1
    assert fig.get_size_inches() == pytest.approx([width * n_cols, 3.3 * n_rows])
    assert fig.get_size_inches()[0] <= FIGURE_WIDTH
    plt.close(fig)


def test_a_panel_wider_than_the_page_is_shrunk_keeping_its_shape():
    fig, _ = figure(width=8.0, height=4.0)
    assert fig.get_size_inches() == pytest.approx(
        [FIGURE_WIDTH, 4.0 * FIGURE_WIDTH / 8]
    )
    plt.close(fig)


@pytest.mark.parametrize(
    "bad, named",
    [(dict(ncols=0), "ncols"), (dict(nrows=1.5), "nrows"), (dict(width=-1), "width")],
)
def test_figure_rejects_bad_layouts(bad, named):
    with pytest.raises(ValueError, match=named):
        figure(**bad)


def test_panel_grid_against_counting_by_hand():
    for n in range(1, 7):
        for panel in (1.0, 2.0, 2.75, 3.0, 5.5, 6.0):
            rows, cols = panel_grid(n, panel)
            fit = max([1] + [k for k in range(1, 9) if k * panel <= FIGURE_WIDTH])
            assert cols == min(n, fit) and rows * cols >= n > (rows - 1) * cols
    with pytest.raises(ValueError, match="n must"):
        panel_grid(0, 1.0)


@pytest.mark.parametrize("width", [4.4, FIGURE_WIDTH])
def test_no_text_is_drawn_under_the_floor(width):
    """Text set too small by its caller (a 5-point legend, 4-point ticks, a 3-point
    note, a mathtext label) is drawn at the floor in the saved SVG; larger text
    keeps its size."""
    fig, ax = figure(width=width)
    ax.semilogy([1, 2, 3], [1e-3, 1e-1, 1], label=r"$\|W(T) - W(0)\|_F$")
    ax.plot([1, 3], [0.5, 0.5], label="flat")
    ax.legend(fontsize=5)
    ax.tick_params(labelsize=4)
    ax.text(1.5, 0.01, "note", fontsize=3)
    ax.set_title("title", fontsize=14)
    sizes = _text_points(_svg(fig))
    floor = min_text_points(width + 0.2)  # the tight bounding box's padding
    assert min(sizes.values()) == pytest.approx(floor, rel=1e-4), sizes
    assert sizes["title"] == pytest.approx(14)
    assert sizes["flat"] == pytest.approx(floor, rel=1e-4)
    assert sizes["note"] == pytest.approx(floor, rel=1e-4)
    plt.close(fig)


def test_heat_maps_are_rasters_twice_as_sharp_as_shown_inside_the_svg():
    """A 120 x 120 pcolormesh is one embedded PNG, not 14,400 paths, and its pixels
    are at least twice its shown CSS pixels at the figure's natural size."""
    fig, ax = figure()
    grid = np.linspace(0, 1, 121)
    ax.pcolormesh(grid, grid, np.random.default_rng(0).random((120, 120)))
    svg = _svg(fig)
    images = re.findall(r"<image [^>]*>", svg)
    assert len(images) == 1 and svg.count("<path") < 100, svg.count("<path")
    width_pt = re.search(r'width="([0-9.]+)"', images[0]).group(1)
    data = re.search(r"base64,\s*([A-Za-z0-9+/=\s]+)", images[0]).group(1)
    png = base64.b64decode(data)
    pixels = int.from_bytes(png[16:20], "big")
    assert pixels / (float(width_pt) * 96 / 72) >= 2.0
    plt.close(fig)


def test_jupyter_shows_figures_as_svg_or_as_png_for_the_pdf(monkeypatch):
    """In an IPython shell, figure() makes the display formatter emit SVG only (the
    website) or, with NTKLIB_FIGURE_FORMAT=png, a 200-dpi PNG only (the PDF)."""
    from IPython.core.interactiveshell import InteractiveShell

    from ntklib import plotting

    assert plotting.show_figures_as() is None, "no shell, nothing changes"
    shell = InteractiveShell.instance()
    try:
        monkeypatch.setattr(plotting, "_shown_as", None)
        fig, ax = figure()
        ax.plot([0, 1])
        data, _ = shell.display_formatter.format(fig)
        assert "image/svg+xml" in data and "image/png" not in data
        assert (
            "<svg" in data["image/svg+xml"] and "dc:date" not in data["image/svg+xml"]
        )
        monkeypatch.setenv("NTKLIB_FIGURE_FORMAT", "png")
        assert plotting.show_figures_as() == "png"
        data, _ = shell.display_formatter.format(fig)
        assert "image/png" in data and "image/svg+xml" not in data
        with pytest.raises(ValueError, match="fmt"):
            plotting.show_figures_as("pdf")
        plt.close(fig)
    finally:
        InteractiveShell.clear_instance()


def test_every_book_figure_comes_from_figure():
    """ntklib.plotting is the one place that sizes figures: no chapter and no other
    module of ntklib calls plt.subplots or plt.figure or sets a figsize or an
    rcParam (the student notebooks of book/assignments run in Jupyter only)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = {
        p.relative_to(root): p.read_text()
        for p in (root / "ntklib").rglob("*.py")
        if p.name != "plotting.py"
    }
    for nb in sorted((root / "book").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        code[nb.relative_to(root)] = "\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "code"
        )
    pattern = re.compile(r"plt\.subplots|plt\.figure\(|figsize|rcParams|\brc\(")
    found = [
        f"{path}: {line.strip()[:70]}"
        for path, text in code.items()
        for line in text.splitlines()
        if pattern.search(line)
    ]
    assert not found, found
