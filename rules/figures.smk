rule figure3:
    """Figure 3: natural vs shuffled labels, train accuracy on original and LFC(r) images."""
    input:
        study_metrics("figure3"),
    output:
        png=report(
            "results/figures/figure3.png",
            caption="../report/figure3.rst",
            category="§4 Rethinking data: Table 1, Figure 3",
        ),
        pdf="results/figures/figure3.pdf",
    log:
        "results/logs/figure3.log",
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_version("figure3"),
        variants=study_variants("figure3"),
    script:
        "../workflow_scripts/figure3.py"


rule study_figure:
    """Figures 4-6 and §5.1's other tests: accuracy along the epochs per variant."""
    input:
        lambda wc: study_metrics(wc.study),
    output:
        png=report(
            "results/figures/{study}.png",
            caption="../report/study_figure.rst",
            category="§5 Training heuristics: Figures 4-6",
            subcategory=lambda wc: STUDY_TITLES[wc.study],
        ),
        pdf="results/figures/{study}.pdf",
    log:
        "results/logs/study_figure/{study}.log",
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_version("study_figure"),
        variants=lambda wc: study_variants(wc.study),
        title=lambda wc: STUDY_TITLES[wc.study],
    script:
        "../workflow_scripts/study_figure.py"
