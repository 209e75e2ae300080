# Beyond the paper, per model: Fourier heat maps (Yin et al. 2019), the Figure 2 count and the
# smoothing × attack table for the trained models of the studies named in config analysis.*,
# and every analysis for the external models (config external_models, hfc.external), which join
# the DAG under results/external/<name>/. Science in hfc.analyses and hfc.fourier_heatmap.
from hfc import analyses as _analyses  # noqa: E402
from hfc.external import ExternalModelError, parse_external_models  # noqa: E402

ANALYSIS = config["analysis"]
# Parse-time checks of every external model (weights file, architecture fit, input size,
# classes): a bad entry stops here, before any job, with the entry named.
try:
    EXTERNAL = {spec.name: spec for spec in parse_external_models(config)}
except ExternalModelError as error:
    raise WorkflowError(f"config {error}")
ANALYSIS_SETTINGS = {
    "fourier_heatmap": ANALYSIS["fourier_heatmap"],
    "response": config["response"],
    "robustness": config["robustness"],
    "radii": RADII,
    "rescale": config["frequency"]["rescale"],
    "precision": config["training"]["precision"],
}
ANALYSIS_REPORT = "Beyond the paper: per-model analyses"
KIND_TITLES = {
    "figure2_count": "Figure 2 count against chance",
    "attacks": "smoothing × attack table",
}


ANALYSIS_TARGETS = []
for _study in analysis_study_runs("fourier_heatmap"):
    ANALYSIS_TARGETS += expand(
        "results/figures/fourier_heatmap_{study}.{ext}",
        study=_study,
        ext=["png", "pdf"],
    )
    ANALYSIS_TARGETS.append(f"results/tables/fourier_heatmap_{_study}.csv")
for _kind in ("figure2_count", "attacks"):
    for _study in analysis_study_runs(_kind):
        ANALYSIS_TARGETS.append(f"results/tables/{_kind}_{_study}.csv")
for _name, _spec in EXTERNAL.items():
    ANALYSIS_TARGETS += [
        f"results/external/{_name}/{kind}.csv" for kind in _spec.analyses
    ]
    if "fourier_heatmap" in _spec.analyses:
        ANALYSIS_TARGETS += [
            f"results/external/{_name}/fourier_heatmap.{ext}" for ext in ("png", "pdf")
        ]
    if "frequency_response" in _spec.analyses:
        ANALYSIS_TARGETS += [
            f"results/external/{_name}/frequency_response.{ext}"
            for ext in ("png", "pdf")
        ]


rule run_analysis:
    """One analysis (Fourier heat map or Figure 2 count) of one trained model and seed."""
    input:
        model="results/runs/{run}/seed{seed}/model.pt",
        subset=f"{DATA}/subset.pt",
    output:
        "results/runs/{run}/seed{seed}/{analysis}.csv",
    log:
        "results/logs/{analysis}/{run}_seed{seed}.log",
    benchmark:
        "results/benchmarks/{analysis}/{run}_seed{seed}.tsv"
    wildcard_constraints:
        analysis="fourier_heatmap|figure2_count",
    priority: 10 * ATTACK_PRIORITY
    conda:
        "../envs/hfc.yaml"
    threads: config.get("threads", 1)
    resources:
        mem_mb=lambda wc: job_mem_mb(
            "analysis",
            run=wc.run,
            batch_size=(
                ANALYSIS["fourier_heatmap"]["batch_size"]
                if wc.analysis == "fourier_heatmap"
                else config["robustness"]["batch_size"]
            ),
            radii=len(RADII) if wc.analysis == "figure2_count" else 0,
        ),
        runtime=lambda wc, attempt: 30 * attempt,
        gpu=0 if config["device"] == "cpu" else 1,
    params:
        code=code_version("model_analysis"),
        settings=ANALYSIS_SETTINGS,
        spec=None,
        device=config["device"],
    script:
        "../workflow_scripts/model_analysis.py"


rule fourier_heatmap_figure:
    """Fourier heat maps of one study's models side by side; low/high ring means per model."""
    input:
        lambda wc: analysis_files("fourier_heatmap", wc.study),
    output:
        png=report(
            "results/figures/fourier_heatmap_{study}.png",
            caption="../report/fourier_heatmap.rst",
            category=ANALYSIS_REPORT,
        ),
        pdf="results/figures/fourier_heatmap_{study}.pdf",
        rings=report(
            "results/tables/fourier_heatmap_{study}.csv",
            caption="../report/fourier_heatmap_rings.rst",
            category=ANALYSIS_REPORT,
        ),
    log:
        "results/logs/fourier_heatmap_figure/{study}.log",
    wildcard_constraints:
        study="|".join(grid.STUDIES),
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_version("fourier_heatmap_figure"),
        titles=lambda wc: heatmap_titles(wc.study),
        note=lambda wc: f"{RESPONSE_TITLES[wc.study]}; {scale_caption().split('; the paper')[0]}",
    script:
        "../workflow_scripts/fourier_heatmap_figure.py"


rule analysis_table:
    """The Figure 2 count or the smoothing × attack table of every model of one study, per seed."""
    input:
        lambda wc: analysis_files(wc.kind, wc.study),
    output:
        report(
            "results/tables/{kind}_{study}.csv",
            caption="../report/analysis_table.rst",
            category=ANALYSIS_REPORT,
        ),
    log:
        "results/logs/analysis_table/{kind}_{study}.log",
    wildcard_constraints:
        kind="figure2_count|attacks",
        study="|".join(grid.STUDIES),
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_version("analysis_table"),
        title=lambda wc: KIND_TITLES[wc.kind],
    script:
        "../workflow_scripts/analysis_table.py"


rule external_data:
    """The test images an external model is evaluated on (its dataset, stratified subset)."""
    input:
        subset=lambda wc: [] if EXTERNAL[wc.name].own_dataset else f"{DATA}/subset.pt",
    output:
        "results/external/{name}/test_data.pt",
    log:
        "results/logs/external_data/{name}.log",
    benchmark:
        "results/benchmarks/external_data/{name}.tsv"
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        code=code_version("external_data"),
        spec=lambda wc: EXTERNAL[wc.name].as_dict(),
    script:
        "../workflow_scripts/external_data.py"


rule external_analysis:
    """One analysis of one external model (frequency response, Figure 2 count, attacks, heat map)."""
    input:
        weights=lambda wc: EXTERNAL[wc.name].weights,
        data="results/external/{name}/test_data.pt",
    output:
        report(
            "results/external/{name}/{analysis}.csv",
            caption="../report/external_analysis.rst",
            category=ANALYSIS_REPORT,
            subcategory="external models",
        ),
    log:
        "results/logs/external/{name}_{analysis}.log",
    benchmark:
        "results/benchmarks/external/{name}_{analysis}.tsv"
    wildcard_constraints:
        analysis="|".join(_analyses.KINDS),
    conda:
        "../envs/hfc.yaml"
    threads: config.get("threads", 1)
    resources:
        # hfc.resources knows the project's architectures only: a fixed, generous figure
        mem_mb=8000,
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=0 if config["device"] == "cpu" else 1,
    params:
        code=code_version("model_analysis"),
        settings=ANALYSIS_SETTINGS,
        spec=lambda wc: EXTERNAL[wc.name].as_dict(),
        device=config["device"],
    script:
        "../workflow_scripts/model_analysis.py"


rule external_heatmap_figure:
    """An external model's Fourier heat map and its ring means."""
    input:
        "results/external/{name}/fourier_heatmap.csv",
    output:
        png=report(
            "results/external/{name}/fourier_heatmap.png",
            caption="../report/fourier_heatmap.rst",
            category=ANALYSIS_REPORT,
            subcategory="external models",
        ),
        pdf="results/external/{name}/fourier_heatmap.pdf",
        rings="results/external/{name}/fourier_heatmap_rings.csv",
    log:
        "results/logs/external_heatmap_figure/{name}.log",
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_version("fourier_heatmap_figure"),
        titles=lambda wc: {wc.name: f"external model {wc.name}"},
        note=lambda wc: f"{EXTERNAL[wc.name].architecture} on {EXTERNAL[wc.name].dataset['name']}",
    script:
        "../workflow_scripts/fourier_heatmap_figure.py"


rule external_response_figure:
    """An external model's frequency-response curves."""
    input:
        "results/external/{name}/frequency_response.csv",
    output:
        png=report(
            "results/external/{name}/frequency_response.png",
            caption="../report/response_figure.rst",
            category=ANALYSIS_REPORT,
            subcategory="external models",
        ),
        pdf="results/external/{name}/frequency_response.pdf",
    log:
        "results/logs/external_response_figure/{name}.log",
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_version("response_figure"),
        variants=lambda wc: {wc.name: wc.name},
        title=lambda wc: f"external model {wc.name}",
        fraction=config["response"]["fraction"],
    script:
        "../workflow_scripts/response_figure.py"
