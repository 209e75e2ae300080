"""Rules detection_infer and detection_eval: paper §7 (hfc.detection; docs/detection.md).

detection_infer: the detector's COCO results on every image as original, LFC and HFC.
detection_eval: pycocotools mAP per version, per-image AP, the images where LFC scores
higher, and the Markdown table beside the paper's numbers.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc import detection  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402
from hfc.seeding import resolve_device, use_threads  # noqa: E402


def infer(settings, log):
    image_dir, annotations = detection.coco_paths(settings["coco_root"])
    dataset = detection.read_annotations(annotations)
    images = detection.select_images(dataset["images"], settings["max_images"])
    device = resolve_device(snakemake.params.device)
    detector = detection.load_detector(
        settings["model"], settings["weights"], settings["num_classes"],
        settings["min_size"], settings["max_size"], settings["score_thresh"],
    )  # fmt: skip
    log(f"{settings['model']} ({settings['weights']}) on {device}: {len(images)} images of {image_dir}, r = {settings['radius']}")
    start = time.perf_counter()
    results, table = detection.run_detection(
        detector, image_dir, images, [c["id"] for c in dataset["categories"]],
        radius=settings["radius"], rescale=snakemake.params.rescale, device=device,
        batch_size=settings["batch_size"],
        workers=snakemake.threads if device.type == "cuda" else 0, log=log,
    )  # fmt: skip
    for version in detection.VERSIONS:
        detection.write_detections(snakemake.output[version], results[version])
    table.to_csv(snakemake.output.images, index=False)
    log(
        f"{ {v: len(r) for v, r in results.items()} } detections in {time.perf_counter() - start:.1f} s; "
        f"{int(table.beyond_radius.sum())} image(s) below the radius (LFC = image, HFC = 0)"
    )


def evaluate(settings, log):
    _, annotations = detection.coco_paths(settings["coco_root"])
    gt = detection.load_coco(annotations)
    images = pd.read_csv(snakemake.input.images)
    ids = images["image_id"].tolist()
    summaries, per_image = {}, {}
    for version in detection.VERSIONS:
        summaries[version], evaluator = detection.evaluate(gt, detection.read_detections(snakemake.input[version]), ids)
        per_image[version] = detection.per_image_ap(evaluator)
        log(f"{version}: {summaries[version]}")
    table = detection.map_table(summaries, settings["radius"], int(images["beyond_radius"].sum()))
    table.to_csv(snakemake.output.map, index=False)
    detection.per_image_table(per_image).to_csv(snakemake.output.per_image, index=False)
    better = detection.lfc_better(per_image["original"], per_image["low"], dict(zip(images.image_id, images.file_name)))
    better.to_csv(snakemake.output.lfc_better, index=False)
    compared = int((per_image["original"].notna() & per_image["low"].notna()).sum())
    caption = detection.caption(settings, snakemake.params.rescale, len(ids))
    markdown = detection.markdown_table(table, len(better), compared, caption)
    Path(snakemake.output.md).write_text(markdown)
    log(f"\n{markdown}")


with logging_to(snakemake.log[0]) as log:
    log(use_threads(snakemake.config["threads"], snakemake.threads))
    {"detection_infer": infer, "detection_eval": evaluate}[snakemake.rule](snakemake.params.settings, log)
