"""Rule train: one run and seed, metrics along the epochs, checkpoint/resume."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import torch  # noqa: E402

from hfc import train  # noqa: E402
from hfc.data import sha256_file  # noqa: E402
from hfc.grid import RunSpec  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402
from hfc.seeding import resolve_device, use_threads  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    log(use_threads(snakemake.config["threads"], snakemake.threads))
    run, seed = snakemake.wildcards.run, int(snakemake.wildcards.seed)
    spec = RunSpec(**snakemake.params.spec)
    # The data's checksum joins the checkpoint fingerprint: a checkpoint left by a killed run is
    # not resumed after the dataset or its subset changed.
    settings = {**snakemake.params.settings, "data_sha256": sha256_file(snakemake.input.subset)}
    device = resolve_device(snakemake.params.device)
    log(f"run {run} seed {seed} on {device}: {spec}")
    radii = snakemake.params.radii
    frequency_paths = {}
    for path in snakemake.input.frequency:
        split, radius = Path(path).stem.split("_r")
        frequency_paths[(split, int(radius))] = path
    evaluation = settings["evaluation"]
    data = train.load_training_data(
        snakemake.input.subset,
        frequency_paths,
        spec,
        radii,
        rescale=settings["rescale"],
        eval_train_size=evaluation["train_size"],
        eval_test_size=evaluation["test_size"],
        eval_seed=evaluation["seed"],
        label_seed=settings["label_seed"],
        device=device,
    )
    try:
        model, metrics = train.train_run(
            run, spec, data, seed, settings,
            checkpoint_path=snakemake.params.checkpoint,
            eval_batch_size=evaluation["batch_size"],
            log=log,
        )  # fmt: skip
    except torch.OutOfMemoryError as error:
        raise torch.OutOfMemoryError(
            f"{error}\nOut of device memory: lower evaluation.batch_size (now {evaluation['batch_size']}) "
            f"or training.batch_size, or the model's width (training.width_by_model); the checkpoint of "
            f"the last finished epoch is kept"
        ) from error
    train.save_model(model, snakemake.output.model, spec.model, train.model_build_kwargs(spec, data, settings))
    metrics.to_csv(snakemake.output.metrics, index=False)
    # What decided these numbers, for the check that refuses to replace them unasked (common.smk).
    record = {"spec": snakemake.params.spec, "settings": snakemake.params.settings, "dataset": snakemake.params.dataset}
    Path(snakemake.output.record).write_text(json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")
    log(f"wrote {snakemake.output.metrics} ({len(metrics)} rows) and {snakemake.output.model}")
    # The outputs now hold everything; a checkpoint left behind would only cost disk.
    Path(snakemake.params.checkpoint).unlink(missing_ok=True)
