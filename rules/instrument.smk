# Known-answer check of the instrument on planted data (dataset.name: planted, hfc/planted.py):
# the vanilla model's accuracy on x, x_l(r0) and x_h(r0) against every planted label set, and
# (when studies.table1 trains r0) Table 1's LFC(r0)- and HFC(r0)-trained models' too, so that
# the report says which protocol recovers what was planted (hfc.instrument.protocol_table).
if PLANTED is not None:
    if "vanilla" not in RUNS:
        raise WorkflowError(
            "config dataset.name planted: the instrument check reads the vanilla model; turn on a "
            "study that trains it (e.g. studies.heuristics: [vanilla])"
        )
    # {protocol model: run}: "vanilla", and per band the Table 1 run trained on it at r0. The
    # models are already trained; evaluating them here on 3 image sets costs seconds, and the
    # conflict mode needs every ring's labels, which results/metrics.csv does not score.
    INSTRUMENT_RUNS = {"vanilla": "vanilla"}
    for _side in ("low", "high"):
        _run = STUDY_RUNS["table1"].get(f"{_side} r={PLANTED['radius']}")
        if _run is not None:
            INSTRUMENT_RUNS[_side] = _run

    rule instrument:
        """Vanilla (and Table 1's r0) models per seed on the planted test images: accuracy per band and label set."""
        input:
            subset=f"{DATA}/subset.pt",
            frequency=f"{DATA}/frequency/test_r{PLANTED['radius']}.pt",
            models=expand(
                "results/runs/{run}/seed{seed}/model.pt",
                run=INSTRUMENT_RUNS.values(),
                seed=SEEDS,
            ),
        output:
            csv="results/tables/instrument.csv",
            md="results/tables/instrument.md",
            protocols="results/tables/instrument_protocols.csv",
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
            runs=INSTRUMENT_RUNS,
            rescale=config["frequency"]["rescale"],
            batch_size=config["evaluation"]["batch_size"],
            device=config["device"],
            caption=lambda wc: scale_caption(),
        script:
            "../workflow_scripts/instrument.py"
