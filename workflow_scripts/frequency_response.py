"""Rule frequency_response: one model's accuracy on x_l / x_h at every integer radius."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc import data, response, train  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402
from hfc.seeding import resolve_device, use_threads  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    log(use_threads(snakemake.config["threads"], snakemake.threads))
    p, settings = snakemake.params, snakemake.params.settings
    run, seed = snakemake.wildcards.run, int(snakemake.wildcards.seed)
    device = resolve_device(p.device)
    subset = data.load_canonical(snakemake.input.subset)
    index = data.stratified_subset(subset["test_labels"], settings["test_size"], settings["seed"])
    images = data.to_float(subset["test_images"][index]).to(device)
    labels = subset["test_labels"][index].to(device)
    model = train.load_model(snakemake.input.model, device)
    curve = response.frequency_response(
        model, images, labels, rescale=p.rescale, batch_size=settings["batch_size"], precision=p.precision
    )
    curve.insert(0, "seed", seed)
    curve.insert(0, "run", run)
    curve.to_csv(snakemake.output[0], index=False)
    # With the evaluation's test images (same size and seed), the sweep must repeat the
    # training evaluation's numbers at the configured radii: a cheap end-to-end check.
    trained = pd.read_csv(snakemake.input.metrics)
    trained = trained[(trained["split"] == "test") & (trained["epoch"] == trained["epoch"].max())]
    both = curve.merge(trained, on=["band", "radius"], suffixes=("", "_training"))
    if p.same_images and not both.empty:
        gap = float((both["accuracy"] - both["accuracy_training"]).abs().max())
        log(f"agreement with the training evaluation at {len(both)} cells: max |Δ accuracy| = {gap:.4f}")
    found = response.response_radius(curve.drop(columns=["run", "seed"]), settings["fraction"])
    log(
        f"{run} seed {seed} on {device}: {len(images)} test images, radii 1..{int(curve['radius'].max())}; "
        f"clean {found['clean_accuracy']:.4f}, x_l reaches {settings['fraction']:g} of it at r={found['radius']}"
    )
