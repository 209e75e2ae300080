# Paper §7 (optional, detection.enabled): a COCO detector on val2017 as original, LFC and HFC
# images, mAP by pycocotools and the images where LFC scores higher. Science in hfc.detection;
# set-up (COCO folder, weights) in docs/detection.md.
import sys

from hfc import detection as detection_study  # noqa: E402

DETECTION = config["detection"]
# The user's annotation and .pth files are inputs where they exist (changing them reruns the
# study); a missing one is left out so that a dry run works, and the job says how to provide it.
DETECTION_FILES = detection_study.user_files(DETECTION)
DETECTION_DETECTIONS = {
    version: f"results/detection/detections_{version}.json"
    for version in detection_study.VERSIONS
}

if DETECTION["enabled"]:
    for _problem in detection_study.setup_problems(DETECTION):
        print(f"WARNING (detection study): {_problem}", file=sys.stderr)


rule detection_infer:
    """§7: the detector's COCO results on every val2017 image as original, LFC and HFC at detection.radius."""
    input:
        **DETECTION_FILES,
    output:
        **DETECTION_DETECTIONS,
        images="results/detection/images.csv",
    log:
        "results/logs/detection/infer.log",
    benchmark:
        "results/benchmarks/detection/infer.tsv"
    conda:
        "../envs/detection.yaml"
    threads: config.get("threads", 1)
    resources:
        mem_mb=16000,
        runtime=lambda wc, attempt: 180 * attempt,
        gpu=0 if config["device"] == "cpu" else 1,
    params:
        code=code_version("detection"),
        settings=DETECTION,
        rescale=config["frequency"]["rescale"],
        device=config["device"],
    script:
        "../workflow_scripts/detection.py"


rule detection_eval:
    """§7: mAP per version (pycocotools), per-image AP, the images where LFC scores higher, the table."""
    input:
        **DETECTION_FILES,
        **DETECTION_DETECTIONS,
        images="results/detection/images.csv",
    output:
        map="results/detection/map.csv",
        lfc_better="results/detection/lfc_better.csv",
        per_image="results/detection/per_image_ap.csv",
        md="results/tables/detection.md",
    log:
        "results/logs/detection/eval.log",
    benchmark:
        "results/benchmarks/detection/eval.tsv"
    conda:
        "../envs/detection.yaml"
    resources:
        mem_mb=8000,
        runtime=lambda wc, attempt: 60 * attempt,
    params:
        code=code_version("detection"),
        settings=DETECTION,
        rescale=config["frequency"]["rescale"],
    script:
        "../workflow_scripts/detection.py"
