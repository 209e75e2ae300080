rule split_frequency:
    """LFC and HFC of one split at one radius, so a new radius recomputes only its own files."""
    input:
        "results/data/{dataset}/subset.pt",
    output:
        "results/data/{dataset}/frequency/{split}_r{radius}.pt",
    log:
        "results/logs/split_frequency/{dataset}_{split}_r{radius}.log",
    benchmark:
        "results/benchmarks/split_frequency/{dataset}_{split}_r{radius}.tsv"
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=job_mem_mb("split"),
        runtime=30,
    params:
        code=code_version("split_frequency"),
    script:
        "../workflow_scripts/split_frequency.py"
