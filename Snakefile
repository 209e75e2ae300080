# hfc-repro: Wang et al., "High-frequency Component Helps Explain the Generalization of
# Convolutional Neural Networks" (CVPR 2020) as a Snakemake workflow. See README.md.
from snakemake.utils import min_version

min_version("9.0")


# The embedded default, found beside this Snakefile from any working directory; a --configfile
# is laid over it (keys it leaves out keep these values).
configfile: f"{workflow.basedir}/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/frequency.smk"
include: "rules/train.smk"
include: "rules/tables.smk"
include: "rules/figures.smk"
include: "rules/robustness.smk"
include: "rules/detection.smk"
include: "rules/analyses.smk"
include: "rules/report.smk"
include: "rules/instrument.smk"
include: "rules/guard.smk"


rule all:
    default_target: True
    input:
        all_targets(),
