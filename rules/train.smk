rule train:
    """One run (hfc.grid) and seed: training with LFC/HFC evaluation after every epoch."""
    input:
        subset=f"{DATA}/subset.pt",
        frequency=frequency_files,
    output:
        metrics="results/runs/{run}/seed{seed}/metrics.csv",
        model="results/runs/{run}/seed{seed}/model.pt",
        record="results/runs/{run}/seed{seed}/run.json",
    log:
        "results/logs/train/{run}_seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{run}_seed{seed}.tsv"
    priority: train_priority
    conda:
        "../envs/hfc.yaml"
    threads: config.get("threads", 1)
    resources:
        mem_mb=lambda wc: job_mem_mb("train", run=wc.run, radii=len(RADII)),
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=0 if config["device"] == "cpu" else 1,
    params:
        code=code_version("train"),
        spec=lambda wc: RUNS[wc.run].as_dict(),
        settings=run_settings(),
        dataset=dataset_identity(),
        radii=RADII,
        device=config["device"],
        # The checkpoint is not an output: Snakemake must not delete it when a job fails.
        checkpoint="results/runs/{run}/seed{seed}/checkpoint.pt",
    script:
        "../workflow_scripts/train.py"


rule collect_metrics:
    """Every run's tidy metrics in one long table (one row per run × epoch × split × band × radius)."""
    input:
        run_metrics(RUNS),
    output:
        "results/metrics.csv",
    log:
        "results/logs/collect_metrics.log",
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_version("collect_metrics"),
    script:
        "../workflow_scripts/collect_metrics.py"
