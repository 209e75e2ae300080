# The reproduction report: claim verdicts (hfc.claims), every number of Tables 1 and 2 beside
# the paper's, and frequency-response curves per model (hfc.response). The HTML report groups
# the outputs marked with report() by paper section:
#   snakemake --report results/report.html
from hfc.claims import check_claim_ids, check_expected_radii  # noqa: E402
from hfc.claims import instrument as instrument_claims  # noqa: E402

CLAIMS = config["claims"]
RESPONSE = config["response"]
STUDY_RUNS = {study: grid.study_runs(config, study) for study in grid.STUDIES}
try:
    check_claim_ids(CLAIMS["expected_supported"])
    check_expected_radii(CLAIMS["expected_supported"], STUDY_RUNS)
    # An expected instrument claim that this config cannot evaluate (another planted band,
    # Table 1's protocol without r0 trained) would fail only after every model was trained.
    instrument_claims.check_expected(
        CLAIMS["expected_supported"], PLANTED, grid.table1_radii(config)
    )
except ValueError as error:
    raise WorkflowError(f"config {error}")

ADVERSARIAL_RUNS = STUDY_RUNS["adversarial"]
# Studies that train at least one model (of response.studies, null = all): one
# frequency-response figure each, one sweep per run of theirs.
RESPONSE_STUDIES = [
    study
    for study, runs in STUDY_RUNS.items()
    if runs and (RESPONSE["studies"] is None or study in RESPONSE["studies"])
]
RESPONSE_RUNS = [
    run
    for run in RUNS
    if any(run in STUDY_RUNS[study].values() for study in RESPONSE_STUDIES)
]
RESPONSE_TITLES = {
    **STUDY_TITLES,
    "table1": "Table 1: trained on LFC(r) or HFC(r)",
    "shift_control": "Table 1's shift control: HFC(r) + another image's LFC(r)",
    "figure3": "Figure 3: natural vs shuffled labels",
    "adversarial": "Table 2: M_natural and M_adversarial",
}
REPORT_SECTIONS = {
    "claims": "Reproduction report",
    "response": "Beyond the paper: frequency response",
}


# {run: "study: variant"} over every study, a shared run named by its first study.
RESPONSE_VARIANTS = {
    run: f"{study}: {label}"
    for study, runs in reversed(list(STUDY_RUNS.items()))
    for label, run in reversed(list(runs.items()))
}
RESPONSE_FILES = "results/runs/{run}/seed{seed}/frequency_response.csv"

# Every per-seed file a claim may read; the robustness ones only with studies.adversarial.
CLAIMS_INPUTS = {"metrics": "results/metrics.csv", "subset": f"{DATA}/subset.pt"}
PAPER_TABLES = {}
if STUDY_RUNS["table1"]:
    PAPER_TABLES["table1"] = "results/tables/table1.csv"
if ADVERSARIAL_RUNS:
    CLAIMS_INPUTS["attacks"] = expand(
        "results/robustness/{run}/seed{seed}/attacks.csv",
        run=ADVERSARIAL_RUNS.values(),
        seed=SEEDS,
    )
    CLAIMS_INPUTS["figure2_count"] = "results/tables/figure2_count.csv"
    CLAIMS_INPUTS["kernel_smoothness"] = "results/tables/kernel_smoothness.csv"
    CLAIMS_INPUTS["svd_control"] = "results/tables/svd_control.csv"
    PAPER_TABLES["table2"] = "results/tables/table2.csv"
    if "adversarial" in config["analysis"]["fourier_heatmap"]["studies"]:
        CLAIMS_INPUTS["fourier_heatmap"] = (
            "results/tables/fourier_heatmap_adversarial.csv"
        )
    if SUITE_ON:  # rules/robustness.smk
        CLAIMS_INPUTS["attack_suite"] = SUITE_TABLES

if PLANTED is not None:
    # Known-answer check of the instrument (rules/instrument.smk, hfc/claims/instrument.py).
    CLAIMS_INPUTS["instrument"] = "results/tables/instrument.csv"
    if RESPONSE["enabled"]:
        CLAIMS_INPUTS["response_radius"] = "results/tables/response_radius.csv"

# Added to rule all by all_targets() (rules/common.smk).
REPORT_TARGETS = expand(
    "results/report/{name}.{ext}",
    name=["claims", "paper_vs_reproduced"],
    ext=["csv", "md"],
)
if PLANTED is not None:
    REPORT_TARGETS += expand("results/tables/instrument.{ext}", ext=["csv", "md"])
    REPORT_TARGETS += ["results/tables/instrument_protocols.csv"]
if RESPONSE["enabled"] and RESPONSE_STUDIES:
    REPORT_TARGETS += expand("results/tables/response_radius.{ext}", ext=["csv", "md"])
    REPORT_TARGETS += expand(
        "results/figures/response_{study}.{ext}",
        study=RESPONSE_STUDIES,
        ext=["png", "pdf"],
    )


rule claims:
    """Each registered claim of the paper measured per seed, with its interval and verdict."""
    input:
        **CLAIMS_INPUTS,
    output:
        csv=report(
            "results/report/claims.csv",
            caption="../report/claims.rst",
            category=REPORT_SECTIONS["claims"],
        ),
        md="results/report/claims.md",
    log:
        "results/logs/claims.log",
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        code=code_version("claims"),
        studies=STUDY_RUNS,
        expected=CLAIMS["expected_supported"],
        min_seeds=CLAIMS["min_seeds"],
        epochs=config["training"]["epochs"],
        planted=PLANTED,
        caption=lambda wc: scale_caption("all"),
    script:
        "../workflow_scripts/claims.py"


rule paper_vs_reproduced:
    """Every number of the paper's Tables 1 and 2 beside ours, with Δ and whether ours covers it."""
    input:
        **PAPER_TABLES,
    output:
        csv="results/report/paper_vs_reproduced.csv",
        md=report(
            "results/report/paper_vs_reproduced.md",
            caption="../report/paper_vs_reproduced.rst",
            category=REPORT_SECTIONS["claims"],
        ),
    log:
        "results/logs/paper_vs_reproduced.log",
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_version("paper_vs_reproduced"),
        caption=lambda wc: scale_caption("all"),
    script:
        "../workflow_scripts/paper_vs_reproduced.py"


rule frequency_response:
    """One model's accuracy on x_l and x_h at every integer radius up to the half diagonal."""
    input:
        model="results/runs/{run}/seed{seed}/model.pt",
        metrics="results/runs/{run}/seed{seed}/metrics.csv",
        subset=f"{DATA}/subset.pt",
    output:
        "results/runs/{run}/seed{seed}/frequency_response.csv",
    log:
        "results/logs/frequency_response/{run}_seed{seed}.log",
    benchmark:
        "results/benchmarks/frequency_response/{run}_seed{seed}.tsv"
    conda:
        "../envs/hfc.yaml"
    threads: config.get("threads", 1)
    resources:
        mem_mb=lambda wc: job_mem_mb(
            "analysis", run=wc.run, batch_size=RESPONSE["batch_size"], radii=1
        ),
        runtime=lambda wc, attempt: 30 * attempt,
        gpu=0 if config["device"] == "cpu" else 1,
    params:
        code=code_version("frequency_response"),
        settings=RESPONSE,
        same_images=RESPONSE["test_size"] == config["evaluation"]["test_size"]
        and RESPONSE["seed"] == config["evaluation"]["seed"],
        rescale=config["frequency"]["rescale"],
        precision=config["training"]["precision"],
        device=config["device"],
    script:
        "../workflow_scripts/frequency_response.py"


rule response_figure:
    """Frequency-response curves of one study's models (band over seeds)."""
    input:
        lambda wc: expand(RESPONSE_FILES, run=STUDY_RUNS[wc.study].values(), seed=SEEDS),
    output:
        png=report(
            "results/figures/response_{study}.png",
            caption="../report/response_figure.rst",
            category=REPORT_SECTIONS["response"],
        ),
        pdf="results/figures/response_{study}.pdf",
    log:
        "results/logs/response_figure/{study}.log",
    wildcard_constraints:
        study="|".join(grid.STUDIES),
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_version("response_figure"),
        variants=lambda wc: study_variants(wc.study),
        title=lambda wc: RESPONSE_TITLES[wc.study],
        fraction=RESPONSE["fraction"],
    script:
        "../workflow_scripts/response_figure.py"


rule response_radius:
    """Per model: the radius where x_l accuracy reaches a fraction (90 %) of clean accuracy."""
    input:
        expand(RESPONSE_FILES, run=RESPONSE_RUNS, seed=SEEDS),
    output:
        csv=report(
            "results/tables/response_radius.csv",
            caption="../report/response_radius.rst",
            category=REPORT_SECTIONS["response"],
        ),
        md="results/tables/response_radius.md",
    log:
        "results/logs/response_radius.log",
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_version("response_radius"),
        fraction=RESPONSE["fraction"],
        variants=RESPONSE_VARIANTS,
        caption=lambda wc: scale_caption(),
    script:
        "../workflow_scripts/response_radius.py"
