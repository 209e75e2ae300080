"""Rule split_frequency: LFC/HFC of one split at one radius (raw; rescaling happens at load)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import torch  # noqa: E402

from hfc import data, frequency  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402
from hfc.seeding import use_threads  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    split, radius = snakemake.wildcards.split, int(snakemake.wildcards.radius)
    log(use_threads(snakemake.config["threads"], snakemake.threads))
    images = data.to_float(data.load_canonical(snakemake.input[0])[f"{split}_images"])
    low, high = frequency.split(images, radius)
    residual = float((low + high - images).abs().max())
    log(f"{split} r={radius}: {len(images)} images, max |low + high - x| = {residual:.2e}")
    tmp = snakemake.output[0] + ".tmp"
    torch.save({"split": split, "radius": radius, "low": low.contiguous(), "high": high.contiguous()}, tmp)
    Path(tmp).replace(snakemake.output[0])
