rule prepare_dataset:
    """Convert the raw dataset once into the canonical tensor file (checksum in the log)."""
    output:
        "results/data/{dataset}/canonical.pt",
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=job_mem_mb("prepare"),
        runtime=30,
    params:
        code=code_version("prepare_dataset"),
        # The raw files are not inputs (they may be a download still to come); their names,
        # sizes and times are, so a changed, added or deleted image reruns this job.
        source=dataset_source(),
        root=config["dataset"].get("root"),
        download=config["dataset"]["download"],
        image_size=config["dataset"].get("image_size"),
        imagenette_size=config["dataset"]["imagenette_size"],
        # A planted dataset has no files: its data are these settings and the generator's
        # code (hfc/planted.py, in `code` above), so a change of either reruns this job.
        planted=PLANTED,
    script:
        "../workflow_scripts/prepare_dataset.py"


rule subset_dataset:
    """Stratified, seeded train/test subsets, plus the channel mean/std the models normalise with."""
    input:
        "results/data/{dataset}/canonical.pt",
    output:
        "results/data/{dataset}/subset.pt",
    log:
        "results/logs/subset_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/subset_dataset/{dataset}.tsv"
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=job_mem_mb("subset"),
        runtime=20,
    params:
        code=code_version("subset_dataset"),
        train_size=config["dataset"].get("train_size"),
        test_size=config["dataset"].get("test_size"),
        seed=config["dataset"]["subset_seed"],
    script:
        "../workflow_scripts/subset_dataset.py"
