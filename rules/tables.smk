rule table1:
    """Table 1: models trained on LFC(r) or HFC(r), tested on the original test set and on their
    own band, with the shift control (studies.shift_control) where it is on."""
    input:
        metrics=study_metrics("table1") + study_metrics("shift_control"),
        subset=f"{DATA}/subset.pt",
    output:
        csv=report(
            "results/tables/table1.csv",
            caption="../report/table1.rst",
            category="§4 Rethinking data: Table 1, Figure 3",
        ),
        md="results/tables/table1.md",
        png=report(
            "results/figures/table1.png",
            caption="../report/table1.rst",
            category="§4 Rethinking data: Table 1, Figure 3",
        ),
        pdf="results/figures/table1.pdf",
    log:
        "results/logs/table1.log",
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_version("table1"),
        variants={**study_variants("table1"), **study_variants("shift_control")},
        caption=lambda wc: scale_caption(),
    script:
        "../workflow_scripts/table1.py"


rule study_table:
    """Summary of one training study: final accuracies, generalization gap, LFC/HFC accuracy."""
    input:
        lambda wc: study_metrics(wc.study),
    output:
        csv=report(
            "results/tables/{study}.csv",
            caption="../report/study_table.rst",
            category="§5 Training heuristics: Figures 4-6",
            subcategory=lambda wc: STUDY_TITLES[wc.study],
        ),
        md="results/tables/{study}.md",
    log:
        "results/logs/study_table/{study}.log",
    conda:
        "../envs/hfc.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_version("study_table"),
        variants=lambda wc: study_variants(wc.study),
        title=lambda wc: STUDY_TITLES[wc.study],
        caption=lambda wc: scale_caption(),
    script:
        "../workflow_scripts/study_table.py"
