# Known-answer check of the instrument on planted data (dataset.name: planted, hfc/planted.py):
# the vanilla model's accuracy on x, x_l(r0) and x_h(r0) against every planted label set.
if PLANTED is not None:
    if "vanilla" not in RUNS:
        raise WorkflowError(
            "config dataset.name planted: the instrument check reads the vanilla model; turn on a "
            "study that trains it (e.g. studies.heuristics: [vanilla])"
        )

    rule instrument:
        """Vanilla model per seed on the planted test images: accuracy per band and label set."""
        input:
            subset=f"{DATA}/subset.pt",
            frequency=f"{DATA}/frequency/test_r{PLANTED['radius']}.pt",
            models=expand("results/runs/vanilla/seed{seed}/model.pt", seed=SEEDS),
        output:
            csv="results/tables/instrument.csv",
            md="results/tables/instrument.md",
        log:
            "results/logs/instrument.log",
        benchmark:
            "results/benchmarks/instrument.tsv"
        conda:
            "../envs/hfc.yaml"
        threads: config.get("threads", 1)
        resources:
            mem_mb=job_mem_mb(
                "analysis",
                run="vanilla",
                batch_size=config["evaluation"]["batch_size"],
                radii=1,
            ),
            runtime=20,
            gpu=0 if config["device"] == "cpu" else 1,
        params:
            code=code_version("instrument"),
            planted=PLANTED,
            seeds=SEEDS,
            rescale=config["frequency"]["rescale"],
            batch_size=config["evaluation"]["batch_size"],
            device=config["device"],
            caption=lambda wc: scale_caption(),
        script:
            "../workflow_scripts/instrument.py"
