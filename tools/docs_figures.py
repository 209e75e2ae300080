#!/usr/bin/env python3
"""Draw the README's and the docs' pictures (small PNGs under docs/img/) from finished runs.

    python tools/docs_figures.py [--table1 RESULTS] [--heatmap RESULTS] [--out docs/img]

RESULTS is a finished run's results folder (``results/``, ``runs/<name>/results/``), or the run
folder that holds it. Each picture is drawn from the files the workflow wrote, never by hand:

  --table1   table1.png: tables/table1.csv (test accuracy of the LFC(r) / HFC(r)-trained
             models with the 95 % interval over seeds) beside the paper's Table 1
  --heatmap  fourier_heatmaps.png: the Fourier heat maps of one study's models
             (tables/fourier_heatmap_<study>.csv names them; runs/<run>/seed<s>/fourier_heatmap.csv
             holds each map), on one colour scale

Each PNG carries the command and its sources in its metadata, and <out>/SOURCES.txt lists every
picture with its command and the SHA-256 of each file it was drawn from. docs/results.md says
which runs the committed pictures come from and how to regenerate them.
Exit status: 0 drawn; 2 a results folder lacks a file a picture needs (the message names it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hfc import fourier_heatmap  # noqa: E402

DPI = 100
SOURCES = "SOURCES.txt"


class MissingInput(Exception):
    pass


def results_folder(path: Path) -> Path:
    """``path`` itself when it is a results folder, else its ``results/`` subfolder."""
    path = Path(path)
    if (path / "results" / "tables").is_dir():
        return path / "results"
    if (path / "tables").is_dir():
        return path
    raise MissingInput(f"{path} is not a finished run's results folder (no tables/ in it or in {path / 'results'})")


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise MissingInput(f"{path} is missing: {what}")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _caption(results: Path) -> str:
    """What the run was (dataset, model, scale), from the 'Ours: ...' note of table1.md."""
    md = results / "tables" / "table1.md"
    if md.is_file():
        for line in md.read_text().splitlines():
            if line.startswith("Ours: "):
                text = line[len("Ours: ") :].split(". Paper:")[0].split("; the paper")[0]
                return text.replace(" (evaluation.train_size / test_size)", "").strip()
    return ""


def _run_caption(run_json: Path) -> str:
    """'dataset, model, N epochs, M training images' of one trained run, from its run.json."""
    if not run_json.is_file():
        return ""
    record = json.loads(run_json.read_text())
    dataset, spec = record.get("dataset", {}), record.get("spec", {})
    parts = [str(dataset.get("name", "")), str(spec.get("model", "")), f"{spec.get('epochs', '?')} epochs"]
    if dataset.get("train_size"):
        parts.append(f"{dataset['train_size']:,} training images")
    return ", ".join(p for p in parts if p)


def _save(fig, path: Path, command: str, sources: list[Path]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"Description": command, "Source": "; ".join(f"{p} sha256={sha256(p)[:16]}" for p in sources)}
    fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata=metadata)
    plt.close(fig)
    return path


def table1_figure(results: Path, out: Path, command: str, chance: float = 0.1) -> tuple[Path, list[Path]]:
    """Table 1 (hfc.figures.table1_figure_axes): ours beside the paper's, and within band."""
    from hfc import figures

    csv = _need(results / "tables" / "table1.csv", "Table 1 (studies.table1) of a finished run")
    table = pd.read_csv(csv)
    missing = [c for c in ("band", "radius", "test_acc", "paper_test_acc") if c not in table.columns]
    if missing:
        raise MissingInput(f"{csv} lacks the column(s) {missing}: is it the workflow's table1.csv?")
    seeds = sorted({int(n) for n in table["n_seeds"].dropna()}) if "n_seeds" in table.columns else [1]
    fig = figures.table1_figure_axes(table, chance)
    interval = "mean ± 95 % interval over " + "/".join(map(str, seeds)) + " seeds" if max(seeds) > 1 else "one seed"
    caption = _caption(results)
    title = "Table 1: trained on LFC(r) or HFC(r)"
    sub = (f"ours: {caption}; " if caption else "ours: ") + interval + ". Paper: CIFAR-10, ResNet-18, 100 epochs"
    fig.suptitle(title + "\n" + _wrap(sub, 150), fontsize=9)
    return _save(fig, out / "table1.png", command, [csv]), [csv]


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def heatmap_figure(results: Path, out: Path, command: str, study: str = "adversarial") -> tuple[Path, list[Path]]:
    """The study's Fourier heat maps side by side (first seed), one colour scale."""
    rings_csv = _need(results / "tables" / f"fourier_heatmap_{study}.csv",
                      f"the ring means of study '{study}' (analysis.fourier_heatmap.studies)")  # fmt: skip
    rings = pd.read_csv(rings_csv)
    if "model" not in rings.columns or rings.empty:
        raise MissingInput(f"{rings_csv} names no model")
    labels = dict(zip(rings["model"], rings["label"] if "label" in rings.columns else rings["model"]))
    seed = int(rings["seed"].min()) if "seed" in rings.columns else 0
    sources, panels = [rings_csv], []
    for model, label in labels.items():
        path = _need(results / "runs" / str(model) / f"seed{seed}" / "fourier_heatmap.csv",
                     f"the heat map of run '{model}', seed {seed}")  # fmt: skip
        sources.append(path)
        frame = pd.read_csv(path)
        eps = float(frame["eps"].min())
        frame = frame[frame["eps"] == eps]
        grid, fys, fxs = fourier_heatmap.full_spectrum(frame)
        panels.append((label, grid, fys, fxs, eps, int(frame["n"].iloc[0]), float(frame["clean_error"].iloc[0])))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.9 * len(panels) + 0.7, 3.0), squeeze=False,
                             layout="constrained")  # fmt: skip
    top = max(1e-9, max(float(np.nanmax(p[1])) for p in panels))
    image = None
    for ax, (label, grid, fys, fxs, eps, n, clean) in zip(axes.flat, panels):
        image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=top, interpolation="nearest", origin="lower",
                          extent=(fxs[0] - 0.5, fxs[-1] + 0.5, fys[0] - 0.5, fys[-1] + 0.5))  # fmt: skip
        ax.set_title(f"{label}\nclean error {clean:.3f}", fontsize=9)
        ax.set_xlabel("fx", fontsize=8)
        ax.set_ylabel("fy", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="error rate")
    caption = _run_caption(results / "runs" / str(next(iter(labels))) / f"seed{seed}" / "run.json")
    fig.suptitle(_wrap(f"Fourier heat maps (Yin et al. 2019): error under basis noise of L2 norm {eps:g}, "
                       f"{n} test images, seed {seed}" + (f"; {caption}" if caption else ""), 90),
                 fontsize=8)  # fmt: skip
    return _save(fig, out / "fourier_heatmaps.png", command, sources), sources


def write_sources(out: Path, command: str, drawn: dict[str, list[Path]]) -> Path:
    """<out>/SOURCES.txt: one block per picture; blocks of pictures not redrawn now are kept."""
    path = out / SOURCES
    blocks: dict[str, str] = {}
    if path.is_file():
        current = None
        for line in path.read_text().splitlines():
            if line.startswith("## "):
                current = line[3:].strip()
                blocks[current] = ""
            elif current is not None:
                blocks[current] += line + "\n"
    for name, sources in drawn.items():
        lines = [f"command: {command}"] + [f"source:  {p}  sha256 {sha256(p)}" for p in sources]
        blocks[name] = "\n".join(lines) + "\n"
    header = ("# The pictures under this folder, each drawn by tools/docs_figures.py from a finished run's\n"
              "# results (docs/results.md#the-pictures-in-these-docs). Regenerate them; never edit by hand.\n")  # fmt: skip
    body = "".join(f"\n## {name}\n{blocks[name]}" for name in sorted(blocks))
    path.write_text(header + body)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table1", type=Path, help="results folder whose tables/table1.csv is drawn")
    parser.add_argument("--heatmap", type=Path, help="results folder whose Fourier heat maps are drawn")
    parser.add_argument("--study", default="adversarial", help="study of the heat maps (default adversarial)")
    parser.add_argument("--chance", type=float, default=0.1, help="chance accuracy drawn in Table 1 (10 classes)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="folder of the PNGs (docs/img)")
    args = parser.parse_args(argv)
    if args.table1 is None and args.heatmap is None:
        parser.error("name at least one results folder: --table1 and/or --heatmap")
    command = "python tools/docs_figures.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    drawn: dict[str, list[Path]] = {}
    try:
        if args.table1 is not None:
            png, sources = table1_figure(results_folder(args.table1), args.out, command, args.chance)
            drawn[png.name] = sources
        if args.heatmap is not None:
            png, sources = heatmap_figure(results_folder(args.heatmap), args.out, command, args.study)
            drawn[png.name] = sources
    except MissingInput as error:
        print(f"error: {error}", file=sys.stderr)
        if drawn:  # what was drawn before the error is still recorded
            write_sources(args.out, command, drawn)
        return 2
    write_sources(args.out, command, drawn)
    for name in drawn:
        print(f"{args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
