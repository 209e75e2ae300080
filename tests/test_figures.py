"""Figures from synthetic metrics frames: the right panels, curves, values, and files."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from hfc import figures

COLUMNS = [
    "run", "dataset", "model", "heuristic", "optimizer", "lr", "batch_size", "train_band",
    "train_radius", "labels", "seed", "epoch", "split", "band", "radius", "accuracy", "loss", "n",
]  # fmt: skip
RADII = (4, 8)


def make_run(run, *, epochs=3, train_band="original", train_radius=0, heuristic="vanilla", labels="natural",
             seed=0, acc=None, **extra):  # fmt: skip
    """One run of the tidy schema; ``acc(epoch, split, band, radius)`` gives each accuracy."""
    acc = acc or (lambda e, s, b, r: 0.1 * e / epochs + (0.3 if s == "train" else 0.0) + 0.01 * r)
    records = [
        dict(run=run, dataset="cifar10", model="resnet18", heuristic=heuristic, optimizer="adam", lr=1e-4,
             batch_size=100, train_band=train_band, train_radius=train_radius, labels=labels, seed=seed,
             epoch=e, split=split, band=band, radius=r, accuracy=acc(e, split, band, r), loss=1.0, n=10, **extra)
        for e in range(1, epochs + 1)
        for split in ("train", "test")
        for band, r in [("original", 0)] + [(b, r) for b in ("low", "high") for r in RADII]
    ]  # fmt: skip
    return pd.DataFrame(records, columns=COLUMNS + list(extra))


def data_lines(ax):
    # seaborn parks empty proxy lines on the axes for the figure legend; skip them.
    return [ln for ln in ax.lines if len(ln.get_xdata()) > 0]


def line_with(ax, colour, linestyle=None):
    hits = [
        ln
        for ln in data_lines(ax)
        if np.allclose(to_rgb(ln.get_color()), colour) and (linestyle is None or ln.get_linestyle() == linestyle)
    ]
    assert len(hits) == 1, f"expected one line of colour {colour} / {linestyle}, found {len(hits)}"
    return hits[0]


def check_files(paths, png, pdf):
    assert [str(p) for p in paths] == [str(png), str(pdf)]
    png_bytes, pdf_bytes = png.read_bytes(), pdf.read_bytes()
    assert png_bytes[:8] == b"\x89PNG\r\n\x1a\n" and len(png_bytes) > 5000
    assert pdf_bytes[:5] == b"%PDF-" and len(pdf_bytes) > 2000


@pytest.fixture(autouse=True)
def no_figure_leak():
    before = set(plt.get_fignums())
    yield
    leaked = set(plt.get_fignums()) - before
    plt.close("all")
    assert not leaked, f"figures left open: {leaked}"


# ----------------------------------------------------------------------------- Figure 3


def fig3_metrics(seeds=(0,)):
    natural = [0.3, 0.5, 0.7]

    def acc(seed):
        def at(epoch, split, band, radius):
            if split == "test":
                return 0.05  # Figure 3 plots training accuracy only
            return natural[epoch - 1] + 0.02 * seed if band == "original" else 0.1 * radius / 4

        return at

    return pd.concat(
        [make_run("vanilla", seed=s, acc=acc(s)) for s in seeds]
        + [make_run("labels-shuffled", epochs=5, labels="shuffled", seed=s) for s in seeds]
        # Not a Figure 3 model: trained on LFC images.
        + [make_run("band-low_r4", train_band="low", train_radius=4, seed=s) for s in seeds]
    )


def test_figure3_panels_curves_and_values():
    grid = figures.figure3_grid(fig3_metrics())
    axes = grid.axes.flat
    assert len(axes) == 2
    assert [ax.get_title() for ax in axes] == ["natural labels", "shuffled labels"]
    for ax in axes:
        assert len(data_lines(ax)) == 1 + len(RADII)  # original + one LFC curve per radius
        assert len(ax.collections) == 0  # one seed: no interval band
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() in ("training accuracy", "")
    original = line_with(axes[0], (0, 0, 0))
    assert original.get_xdata().tolist() == [1, 2, 3]
    assert original.get_ydata() == pytest.approx([0.3, 0.5, 0.7])
    lfc8 = [ln for ln in data_lines(axes[0]) if ln is not original and ln.get_ydata()[0] == pytest.approx(0.2)]
    assert len(lfc8) == 1
    assert len(line_with(axes[1], (0, 0, 0)).get_xdata()) == 5
    labels = [t.get_text() for t in grid.legend.get_texts()]
    assert labels == ["original", "LFC r=4", "LFC r=8"]
    plt.close(grid.figure)


def test_figure3_draws_t_interval_band_for_several_seeds():
    grid = figures.figure3_grid(fig3_metrics(seeds=(0, 1, 2)))
    ax = grid.axes.flat[0]
    assert len(ax.collections) == 1 + len(RADII)
    original = line_with(ax, (0, 0, 0))
    assert original.get_ydata()[0] == pytest.approx(0.32)  # mean of 0.30, 0.32, 0.34
    band = next(c for c in ax.collections if np.allclose(c.get_facecolor()[0][:3], (0, 0, 0)))
    verts = band.get_paths()[0].vertices
    at1 = verts[np.isclose(verts[:, 0], 1.0), 1]
    half = 4.302652729911275 * 0.02 / math.sqrt(3)
    assert at1.min() == pytest.approx(0.32 - half) and at1.max() == pytest.approx(0.32 + half)
    plt.close(grid.figure)


def test_figure3_writes_png_and_pdf(tmp_path):
    png, pdf = tmp_path / "out" / "fig3.png", tmp_path / "out" / "fig3.pdf"
    check_files(figures.figure3(fig3_metrics(), png, pdf), png, pdf)


def test_figure3_rejects_frames_without_its_runs():
    with pytest.raises(ValueError, match="figure3"):
        figures.figure3_grid(make_run("band-low_r4", train_band="low", train_radius=4))
    twins = pd.concat([make_run("vanilla"), make_run("bs-500")])
    with pytest.raises(ValueError, match="several runs"):
        figures.figure3_grid(twins)


# ----------------------------------------------------------------------------- Figures 4/5


def study_metrics():
    return pd.concat(
        [
            make_run("vanilla", epochs=15, variant="vanilla"),
            make_run("heuristic-mixup", epochs=15, heuristic="mixup", variant="mixup"),
            make_run("heuristic-dropout", epochs=1, heuristic="dropout", variant="dropout"),
        ]
    )


def test_study_figure_panels_styles_and_single_epoch():
    grid = figures.study_grid(study_metrics(), "Figure 5")
    axes = list(grid.axes.flat)
    assert len(axes) == 3
    assert [ax.get_title() for ax in axes] == ["variant = vanilla", "variant = mixup", "variant = dropout"]
    n_curves = 2 + 2 * len(RADII)  # train, test, LFC and HFC per radius
    palette = figures._radius_colours(RADII)
    for ax in axes:
        assert len(data_lines(ax)) == n_curves
        assert ax.get_legend() is None  # one legend for the whole figure
        for r in RADII:  # same colour per radius in every panel, LFC solid, HFC not
            assert line_with(ax, palette[r], "-") is not line_with(ax, palette[r], "--")
    train = line_with(axes[0], (0, 0, 0))
    assert train.get_ydata()[-1] == pytest.approx(0.4)  # split=train, band=original, epoch 15
    # The one-epoch panel: every curve is a single point and must carry a marker to show.
    for ln in data_lines(axes[2]):
        assert len(ln.get_xdata()) == 1
        assert ln.get_marker() not in (None, "None", "", " ")
    # The long panels stay unmarked.
    assert all(ln.get_marker() in (None, "None", "") for ln in data_lines(axes[0]))
    assert grid.figure._suptitle.get_text() == "Figure 5"
    labels = [t.get_text() for t in grid.legend.get_texts()]
    assert labels == ["train", "test", "LFC r=4", "LFC r=8", "HFC r=4", "HFC r=8"]
    plt.close(grid.figure)


def test_study_figure_writes_files_and_checks_variant_column(tmp_path):
    png, pdf = tmp_path / "fig5.png", tmp_path / "fig5.pdf"
    check_files(figures.study_figure(study_metrics(), "Figure 5", png, pdf), png, pdf)
    with pytest.raises(ValueError, match="batch"):
        figures.study_figure(study_metrics(), "x", png, pdf, variant_col="batch")


# ----------------------------------------------------------------------------- Figure 6


def fig6_metrics():
    def acc_for(bn):
        return lambda e, s, b, r: 0.1 * e + (0.3 if bn else 0.0) + (0.05 if s == "train" else 0.0) + 0.001 * r

    return pd.concat(
        [
            make_run(f"{h}-low_r{r}", heuristic=h, train_band="low", train_radius=r, acc=acc_for(h == "batchnorm"))
            for h in ("vanilla", "batchnorm")
            for r in RADII
        ]
        # Not in Figure 6: trained on original images / on HFC.
        + [make_run("vanilla"), make_run("band-high_r4", train_band="high", train_radius=4)]
    )


def test_figure6_panels_and_curves():
    grid = figures.figure6_grid(fig6_metrics())
    axes = list(grid.axes.flat)
    assert [ax.get_title() for ax in axes] == ["trained on LFC r=4", "trained on LFC r=8"]
    blue, orange, green = figures._PALETTE[:3]
    for ax in axes:
        assert len(data_lines(ax)) == 3 * 2  # 3 measurements × with/without BatchNorm
    bn_train = line_with(axes[0], blue, "-")  # train accuracy on LFC(4), BatchNorm
    assert bn_train.get_ydata() == pytest.approx([0.454, 0.554, 0.654])
    plain_test = line_with(axes[1], orange, "--")  # test on original images, no BatchNorm
    assert plain_test.get_ydata() == pytest.approx([0.1, 0.2, 0.3])
    lfc_test = line_with(axes[1], green, "--")  # test on LFC(8) images, no BatchNorm
    assert lfc_test.get_ydata() == pytest.approx([0.108, 0.208, 0.308])
    plt.close(grid.figure)


def test_figure6_writes_png_and_pdf(tmp_path):
    png, pdf = tmp_path / "fig6.png", tmp_path / "fig6.pdf"
    check_files(figures.figure6(fig6_metrics(), png, pdf), png, pdf)
    with pytest.raises(ValueError, match="figure6"):
        figures.figure6(make_run("vanilla"), png, pdf)
