"""Rule attack_suite: one model and seed under every attack of the suite, its first layer smoothed by each ρ."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from hfc import attack_suite, data, train  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402
from hfc.seeding import resolve_device, use_threads  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    log(use_threads(snakemake.config["threads"], snakemake.threads))
    run, seed, label = snakemake.wildcards.run, int(snakemake.wildcards.seed), snakemake.params.label
    settings = snakemake.params.settings
    device = resolve_device(snakemake.params.device)
    model = train.load_model(snakemake.input.model, device)
    subset = data.load_canonical(snakemake.input.subset)
    index = data.stratified_subset(subset["test_labels"], settings["test_size"], settings["seed"])
    images = data.to_float(subset["test_images"][index])
    labels = subset["test_labels"][index]
    log(f"{run} seed {seed} ({label}) on {device}: {len(index)} test images, rhos {snakemake.params.rhos}, {settings}")
    start = time.perf_counter()
    table = attack_suite.smoothing_attack_table(model, images, labels, settings, snakemake.params.rhos, device, log)
    table.insert(0, "model", label)
    table.insert(0, "seed", seed)
    table.insert(0, "run", run)
    table.to_csv(snakemake.output[0], index=False)
    log(f"wrote {snakemake.output[0]} ({len(table)} rows) in {time.perf_counter() - start:.1f} s")
