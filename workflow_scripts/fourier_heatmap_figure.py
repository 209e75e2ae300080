"""Rules fourier_heatmap_figure / external_heatmap_figure: heat maps side by side, ring means per model."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc import fourier_heatmap  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    p = snakemake.params
    maps = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    fourier_heatmap.heatmap_figure(maps, p.titles, snakemake.output.png, snakemake.output.pdf, note=p.note)
    rings = fourier_heatmap.ring_summary(maps)
    rings.insert(1, "label", rings["model"].map(p.titles))
    rings.to_csv(snakemake.output.rings, index=False)
    log(f"{len(snakemake.input)} heat maps -> {snakemake.output.png}\n{rings.to_string(index=False)}")
