# Paper §3.1, §6 and §8 on the two models of the adversarial study (hfc.grid): Table 2,
# Figures 2 and 7, kernel smoothness and the truncated-SVD control. Science in hfc.robustness.

import math

ROBUSTNESS = config["robustness"]
# {"natural": run id, "adversarial": run id}; empty while studies.adversarial is off, and then
# the scripts stop with that advice should one of these outputs be asked for.
ROBUSTNESS_RUNS = grid.study_runs(config, "adversarial")
ROBUSTNESS_LABELS = {run: label for label, run in ROBUSTNESS_RUNS.items()}
ROBUSTNESS_MODELS = {
    label: [f"results/runs/{run}/seed{seed}/model.pt" for seed in SEEDS]
    for label, run in ROBUSTNESS_RUNS.items()
}
ATTACK_TABLES = [
    f"results/robustness/{run}/seed{seed}/attacks.csv"
    for run in ROBUSTNESS_RUNS.values()
    for seed in SEEDS
]

# Issue 12: every model × ρ of Table 2 under an attack suite gradient masking cannot fool.
SUITE = ROBUSTNESS["suite"]
SUITE_ON = bool(ROBUSTNESS_RUNS) and SUITE["enabled"]
SUITE_TABLES = [
    f"results/robustness/{run}/seed{seed}/attack_suite.csv"
    for run in ROBUSTNESS_RUNS.values()
    for seed in SEEDS
]
SUITE_TARGETS = (
    [
        "results/tables/attack_suite.csv",
        "results/tables/attack_checklist.csv",
        "results/tables/attack_checklist.md",
        "results/figures/attack_suite.png",
        "results/figures/attack_suite.pdf",
    ]
    if SUITE_ON
    else []
)
SUITE_CATEGORY = "§6 Table 2 under attacks gradient masking cannot fool"

if ROBUSTNESS_RUNS and ROBUSTNESS["figure2_radius"] not in RADII:
    raise WorkflowError(
        f"config robustness.figure2_radius {ROBUSTNESS['figure2_radius']} is not among "
        f"frequency.radii {RADII}; choose one of them"
    )


rule attack_eval:
    """Table 2 cells of one model and seed: first conv smoothed by each ρ, clean/FGSM/PGD accuracy.

    Any trained run: the adversarial study's two are labelled natural / adversarial (Table 2),
    others (analysis.attacks.studies) by their run id."""
    input:
        model="results/runs/{run}/seed{seed}/model.pt",
        subset=f"{DATA}/subset.pt",
    output:
        "results/robustness/{run}/seed{seed}/attacks.csv",
    log:
        "results/logs/attack_eval/{run}_seed{seed}.log",
    benchmark:
        "results/benchmarks/attack_eval/{run}_seed{seed}.tsv"
    priority: 10 * ATTACK_PRIORITY
    conda:
        "../envs/hfc.yaml"
    threads: config.get("threads", 1)
    resources:
        mem_mb=lambda wc: job_mem_mb(
            "attack", run=wc.run, batch_size=ROBUSTNESS["batch_size"]
        ),
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=0 if config["device"] == "cpu" else 1,
    params:
        code=code_version("attack_eval"),
        label=lambda wc: ROBUSTNESS_LABELS.get(wc.run, wc.run),
        settings=ROBUSTNESS,
        device=config["device"],
    script:
        "../workflow_scripts/attack_eval.py"


rule attack_suite:
    """One model and seed under FGSM, PGD with restarts, APGD-CE/DLR and Square, smoothed by each ρ."""
    input:
        model="results/runs/{run}/seed{seed}/model.pt",
        subset=f"{DATA}/subset.pt",
    output:
        "results/robustness/{run}/seed{seed}/attack_suite.csv",
    log:
        "results/logs/attack_suite/{run}_seed{seed}.log",
    benchmark:
        "results/benchmarks/attack_suite/{run}_seed{seed}.tsv"
    priority: 10 * ATTACK_PRIORITY
    conda:
        "../envs/hfc.yaml"
    threads: config.get("threads", 1)
    resources:
        # APGD keeps about eight image batches alive (iterate, best, momentum, gradients)
        mem_mb=lambda wc: job_mem_mb(
            "attack", run=wc.run, batch_size=SUITE["batch_size"], attack_copies=8
        ),
        # robustness.suite.max_minutes, which the Square budget was checked against at parse time
        runtime=lambda wc, attempt: int(math.ceil(SUITE["max_minutes"])) * attempt,
        gpu=0 if config["device"] == "cpu" else 1,
    params:
        code=code_version("attack_suite"),
        # M_natural / M_adversarial for Table 2's runs; any other run (analysis.attacks) by its id
        label=lambda wc: ROBUSTNESS_LABELS.get(wc.run, wc.run),
        settings=SUITE,
        rhos=ROBUSTNESS["rhos"],
        device=config["device"],
    script:
        "../workflow_scripts/attack_suite.py"


rule attack_suite_summary:
    """The suite's tidy table, its checklist (gradient masking flagged) and robust accuracy against ε."""
    input:
        SUITE_TABLES,
    output:
        table=report(
            "results/tables/attack_suite.csv",
            caption="../report/attack_suite.rst",
            category=SUITE_CATEGORY,
        ),
        checklist="results/tables/attack_checklist.csv",
        md=report(
            "results/tables/attack_checklist.md",
            caption="../report/attack_checklist.rst",
            category=SUITE_CATEGORY,
        ),
        png=report(
            "results/figures/attack_suite.png",
            caption="../report/attack_suite_figure.rst",
            category=SUITE_CATEGORY,
        ),
        pdf="results/figures/attack_suite.pdf",
    log:
        "results/logs/attack_suite_summary.log",
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_version("attack_suite_summary"),
        caption=lambda wc: scale_caption("suite"),
        title="M_natural and M_adversarial, first layer smoothed by ρ (Eq. 3)",
    script:
        "../workflow_scripts/attack_suite_summary.py"


rule table2:
    """Table 2: seeds averaged, beside the paper's numbers (CSV, and Markdown laid out like the paper)."""
    input:
        ATTACK_TABLES,
    output:
        csv=report(
            "results/tables/table2.csv",
            caption="../report/table2.rst",
            category="§6 Adversarial attack and defense: Table 2, Figure 7",
        ),
        md="results/tables/table2.md",
    log:
        "results/logs/table2.log",
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_version("table2"),
        caption=lambda wc: scale_caption("robustness"),
        settings=ROBUSTNESS,
    script:
        "../workflow_scripts/table2.py"


rule figure7:
    """Figure 7: first-layer kernels raw and smoothed (ρ = 1), and their roughness per model and seed."""
    input:
        natural=ROBUSTNESS_MODELS.get("natural", []),
        adversarial=ROBUSTNESS_MODELS.get("adversarial", []),
    output:
        png=report(
            "results/figures/figure7.png",
            caption="../report/figure7.rst",
            category="§6 Adversarial attack and defense: Table 2, Figure 7",
        ),
        pdf="results/figures/figure7.pdf",
        smoothness=report(
            "results/tables/kernel_smoothness.csv",
            caption="../report/kernel_smoothness.rst",
            category="§6 Adversarial attack and defense: Table 2, Figure 7",
        ),
    log:
        "results/logs/figure7.log",
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_version("figure7"),
        seeds=SEEDS,
        runs=ROBUSTNESS_RUNS,
    script:
        "../workflow_scripts/figure7.py"


rule figure2:
    """Figure 2: test images M_natural gets right on the original and HFC(r) but wrong on LFC(r); counts."""
    input:
        models=ROBUSTNESS_MODELS.get("natural", []),
        subset=f"{DATA}/subset.pt",
        frequency=[f"{DATA}/frequency/test_r{r}.pt" for r in RADII],
    output:
        png=report(
            "results/figures/figure2.png",
            caption="../report/figure2.rst",
            category="§3 CNNs exploit HFC: Figure 2",
        ),
        pdf="results/figures/figure2.pdf",
        counts=report(
            "results/tables/figure2_count.csv",
            caption="../report/figure2_count.rst",
            category="§3 CNNs exploit HFC: Figure 2",
        ),
    log:
        "results/logs/figure2.log",
    benchmark:
        "results/benchmarks/figure2.tsv"
    conda:
        "../envs/hfc.yaml"
    threads: config.get("threads", 1)
    resources:
        mem_mb=job_mem_mb(
            "analysis",
            run=ROBUSTNESS_RUNS.get("natural"),
            batch_size=ROBUSTNESS["batch_size"],
            radii=len(RADII),
        ),
        runtime=30,
        gpu=0 if config["device"] == "cpu" else 1,
    params:
        code=code_version("figure2"),
        runs=ROBUSTNESS_RUNS,
        seeds=SEEDS,
        radius=ROBUSTNESS["figure2_radius"],
        rescale=config["frequency"]["rescale"],
        batch_size=ROBUSTNESS["batch_size"],
        device=config["device"],
    script:
        "../workflow_scripts/figure2.py"


rule svd_control:
    """§8: the Figure 2 count with images split by truncated SVD instead of by frequency."""
    input:
        models=ROBUSTNESS_MODELS.get("natural", []),
        subset=f"{DATA}/subset.pt",
        frequency=f"{DATA}/frequency/test_r{ROBUSTNESS['figure2_radius']}.pt",
    output:
        report(
            "results/tables/svd_control.csv",
            caption="../report/svd_control.rst",
            category="§8 Are HFC just noise? SVD control",
        ),
    log:
        "results/logs/svd_control.log",
    benchmark:
        "results/benchmarks/svd_control.tsv"
    conda:
        "../envs/hfc.yaml"
    threads: config.get("threads", 1)
    resources:
        mem_mb=job_mem_mb(
            "analysis",
            run=ROBUSTNESS_RUNS.get("natural"),
            batch_size=ROBUSTNESS["batch_size"],
            radii=1,
        ),
        runtime=30,
        gpu=0 if config["device"] == "cpu" else 1,
    params:
        code=code_version("svd_control"),
        runs=ROBUSTNESS_RUNS,
        seeds=SEEDS,
        radius=ROBUSTNESS["figure2_radius"],
        rank=ROBUSTNESS["svd_rank"],
        rescale=config["frequency"]["rescale"],
        batch_size=ROBUSTNESS["batch_size"],
        device=config["device"],
    script:
        "../workflow_scripts/svd_control.py"
