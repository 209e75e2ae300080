"""Rule attack_eval: Table 2 cells of one model and seed (kernels smoothed by each ρ, clean/FGSM/PGD)."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))


from hfc import data, robustness, train  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402
from hfc.seeding import resolve_device, use_threads  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    log(use_threads(snakemake.config["threads"], snakemake.threads))
    run, seed = snakemake.wildcards.run, int(snakemake.wildcards.seed)
    settings = snakemake.params.settings
    device = resolve_device(snakemake.params.device)
    model = train.load_model(snakemake.input.model, device)
    subset = data.load_canonical(snakemake.input.subset)
    index = data.stratified_subset(subset["test_labels"], settings["test_size"], settings["seed"])
    images = data.to_float(subset["test_images"][index]).to(device)
    labels = subset["test_labels"][index].to(device)
    log(f"{run} seed {seed} as {snakemake.params.label} on {device}: {len(index)} test images, {settings}")
    start = time.perf_counter()
    table = robustness.attack_table(
        model, images, labels,
        run=run, seed=seed, label=snakemake.params.label,
        rhos=settings["rhos"], eps=settings["eps"],
        pgd_steps=settings["pgd_steps"], pgd_step_fraction=settings["pgd_step_fraction"],
        batch_size=settings["batch_size"], log=log,
    )  # fmt: skip
    table.to_csv(snakemake.output[0], index=False)
    log(f"wrote {snakemake.output[0]} ({len(table)} rows) in {time.perf_counter() - start:.1f} s")
