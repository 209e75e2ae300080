"""Rule instrument: the vanilla model (and Table 1's r0 models) on planted test images, accuracy
per band and label set, and per protocol whether it recovers what was planted."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc import data, instrument, train  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402
from hfc.seeding import resolve_device, use_threads  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    log(use_threads(snakemake.config["threads"], snakemake.threads))
    p = snakemake.params
    radius = int(p.planted["radius"])
    device = resolve_device(p.device)
    subset = data.load_canonical(snakemake.input.subset)
    _, low, high = data.load_frequency_split(snakemake.input.frequency, "test", radius, rescale=p.rescale)
    images = {"original": data.to_float(subset["test_images"]), "low": low, "high": high}
    images = {band: x.to(device) for band, x in images.items()}
    labels = instrument.label_sets(subset, "test")
    frames = []
    for path in snakemake.input.models:  # results/runs/{run}/seed{seed}/model.pt
        run, seed = Path(path).parts[-3], int(Path(path).parts[-2].removeprefix("seed"))
        model = train.load_model(path, device)
        frames.append(instrument.instrument_rows(model, images, labels, radius, run, seed, p.batch_size))
    table = pd.concat(frames, ignore_index=True)
    table.to_csv(snakemake.output.csv, index=False)
    summary = instrument.instrument_summary(table)
    chance = 1.0 / len(subset["classes"])
    protocols = instrument.protocol_table(table, p.runs, p.planted, chance)
    protocols.to_csv(snakemake.output.protocols, index=False)
    Path(snakemake.output.md).write_text(
        instrument.instrument_markdown(summary, p.planted, chance, p.caption, protocols)
    )
    log(f"planted {p.planted}\n{summary.to_string(index=False)}\n{protocols.to_string(index=False)}")
