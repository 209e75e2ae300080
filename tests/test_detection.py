"""Paper §7 detection study (hfc.detection, rules/detection.smk) on a tiny COCO-format set written here."""

import contextlib
import importlib.util
import io
import json
import subprocess
import sys
import urllib.error

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
import yaml

from tests import fakedata
from PIL import Image

from hfc import detection
from hfc.config import load_schema
from hfc.frequency import max_radius, split

needs_pycocotools = pytest.mark.skipif(
    importlib.util.find_spec("pycocotools") is None,
    reason="the detection study's evaluation needs pycocotools (pip install -e '.[detection]')",
)

CATEGORIES = [{"id": 1, "name": "square"}, {"id": 2, "name": "disc"}, {"id": 3, "name": "bar"}]
# (file, height, width, mode, boxes as (category, x, y, w, h)); 24x24 is below r = 20's reach
# (half diagonal 17), image 5 has no annotated object, image 4 is greyscale.
IMAGES = [
    ("a.png", 40, 56, "RGB", [(1, 4, 5, 20, 14), (2, 30, 10, 18, 22)]),
    ("b.jpg", 40, 56, "RGB", [(1, 10, 8, 12, 12), (3, 2, 25, 40, 8), (2, 33, 3, 15, 15)]),
    ("c.png", 40, 56, "RGB", [(3, 6, 6, 30, 10)]),
    ("d.jpg", 48, 32, "L", [(2, 3, 4, 20, 25), (1, 12, 30, 14, 14)]),
    ("e.png", 24, 24, "RGB", []),
    ("f.png", 24, 24, "RGB", [(1, 2, 2, 16, 16)]),
]
RADIUS = 20
TINY = {"model": "retinanet_resnet50_fpn", "num_classes": 4, "min_size": 64, "max_size": 96, "score_thresh": 0.0}


def write_tiny_coco(root):
    """COCO layout: root/val2017/*.png|jpg and root/annotations/instances_val2017.json."""
    rng = np.random.default_rng(0)
    (root / "val2017").mkdir(parents=True)
    (root / "annotations").mkdir()
    images, annotations = [], []
    for k, (name, h, w, mode, boxes) in enumerate(IMAGES):
        image_id = 10 * (k + 1)
        pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).convert(mode).save(root / "val2017" / name)
        images.append({"id": image_id, "file_name": name, "height": h, "width": w})
        for category, x, y, bw, bh in boxes:
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": category,
                 "bbox": [x, y, bw, bh], "area": bw * bh, "iscrowd": 0}
            )  # fmt: skip
    dataset = {"images": images, "annotations": annotations, "categories": CATEGORIES}
    (root / "annotations/instances_val2017.json").write_text(json.dumps(dataset))
    return root


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    root = write_tiny_coco(tmp_path_factory.mktemp("coco"))
    return root, detection.load_coco(root / "annotations/instances_val2017.json")


def ground_truth_as_results(gt, drop_every=None, jitter=0.0, seed=0):
    rng = np.random.default_rng(seed)
    records = []
    for k, ann in enumerate(gt.dataset["annotations"]):
        if drop_every and k % drop_every == 0:
            continue
        x, y, w, h = ann["bbox"]
        dx, dy = rng.normal(0, jitter, 2) * np.array([w, h])
        records.append({"image_id": ann["image_id"], "category_id": ann["category_id"],
                        "bbox": [x + dx, y + dy, w, h], "score": float(rng.uniform(0.5, 1))})  # fmt: skip
    return records


# --- the split ---------------------------------------------------------------------------------


def test_frequency_versions_split_each_size_and_keep_the_image_beyond_the_radius():
    torch.manual_seed(0)
    images = torch.rand(2, 3, 40, 56)
    versions, beyond = detection.frequency_versions(images, RADIUS, rescale=False)
    low, high = split(images, RADIUS)
    assert not beyond
    assert torch.equal(versions["original"], images)
    torch.testing.assert_close(versions["low"], low)
    torch.testing.assert_close(versions["low"] + versions["high"], images)

    rescaled, _ = detection.frequency_versions(images, RADIUS, rescale=True)
    peaks = rescaled["high"].amax(dim=(1, 2, 3))
    torch.testing.assert_close(peaks, torch.ones(2))
    torch.testing.assert_close(rescaled["low"] * low.amax(dim=(1, 2, 3), keepdim=True), low)

    small = torch.rand(1, 3, 24, 24)
    assert max_radius(24, 24) < RADIUS
    versions, beyond = detection.frequency_versions(small, RADIUS, rescale=True)
    assert beyond
    torch.testing.assert_close(versions["low"], small / small.max())
    assert torch.count_nonzero(versions["high"]) == 0


def test_size_batches_group_one_size_and_cover_every_image_once():
    records = [{"id": 10 * (k + 1), "height": h, "width": w} for k, (_, h, w, _, _) in enumerate(IMAGES)]
    batches = detection.size_batches(records, batch_size=2)
    assert sorted(i for b in batches for i in b) == [r["id"] for r in records]
    sizes = {r["id"]: (r["height"], r["width"]) for r in records}
    assert all(len({sizes[i] for i in b}) == 1 and len(b) <= 2 for b in batches)
    assert batches == [[10, 20], [30], [40], [50, 60]]
    with pytest.raises(ValueError, match="batch_size"):
        detection.size_batches(records, 0)


# --- evaluation --------------------------------------------------------------------------------


@needs_pycocotools
def test_evaluate_scores_ground_truth_one_and_nothing_zero(coco):
    _, gt = coco
    perfect, _ = detection.evaluate(gt, ground_truth_as_results(gt))
    assert perfect["mAP"] == pytest.approx(1.0) and perfect["AP50"] == pytest.approx(1.0)
    assert perfect["n_images"] == len(IMAGES)
    empty, _ = detection.evaluate(gt, [])
    assert empty["mAP"] == 0.0 and empty["AP75"] == 0.0
    partial, _ = detection.evaluate(gt, ground_truth_as_results(gt, drop_every=3))
    assert 0.3 < partial["mAP"] < 0.9
    # Detections on images outside the evaluated set do not count.
    only_first, _ = detection.evaluate(gt, ground_truth_as_results(gt), image_ids=[10])
    assert only_first["n_images"] == 1 and only_first["mAP"] == pytest.approx(1.0)


@needs_pycocotools
def test_per_image_ap_equals_cocoeval_restricted_to_each_image(coco):
    from pycocotools.cocoeval import COCOeval

    _, gt = coco
    rng = np.random.default_rng(1)
    records = ground_truth_as_results(gt, drop_every=4, jitter=0.15, seed=1)
    for image_id in gt.getImgIds():  # false positives everywhere, the annotation-free image too
        for _ in range(3):
            records.append({"image_id": image_id, "category_id": int(rng.integers(1, 4)),
                            "bbox": [float(v) for v in rng.uniform(0, 12, 4) + [0, 0, 4, 4]],
                            "score": float(rng.uniform(0, 1))})  # fmt: skip
    _, evaluator = detection.evaluate(gt, records)
    ours = detection.per_image_ap(evaluator)
    assert list(ours.index) == sorted(gt.getImgIds())
    for image_id in gt.getImgIds():
        single = COCOeval(gt, detection._results(gt, records), "bbox")
        single.params.imgIds = [image_id]
        with contextlib.redirect_stdout(io.StringIO()):
            single.evaluate()
            single.accumulate()
            single.summarize()
        if single.stats[0] < 0:
            assert np.isnan(ours[image_id]), image_id
        else:
            assert ours[image_id] == pytest.approx(single.stats[0], abs=1e-12), image_id
    assert np.isnan(ours[50]) and ours.notna().sum() == 5
    assert len(set(ours.dropna().round(6))) > 2  # the check above compared distinct values


def test_lfc_better_counts_images_strictly_higher_on_lfc():
    original = pd.Series({1: 0.5, 2: 0.2, 3: 0.7, 4: float("nan"), 5: 0.0})
    low = pd.Series({1: 0.6, 2: 0.2, 3: 0.1, 4: 0.9, 5: 0.25})
    better = detection.lfc_better(original, low, {1: "one.jpg", 5: "five.jpg"})
    assert list(better.columns) == ["image_id", "file_name", "ap_original", "ap_low", "delta"]
    assert better["image_id"].tolist() == [1, 5] and better["file_name"].tolist() == ["one.jpg", "five.jpg"]
    assert better["delta"].tolist() == pytest.approx([0.1, 0.25])


def test_map_table_and_markdown_sit_beside_the_paper():
    summaries = {
        "original": {"mAP": 0.30, "AP50": 0.5, "AP75": 0.3, "n_images": 7},
        "low": {"mAP": 0.25, "AP50": 0.4, "AP75": 0.2, "n_images": 7},
        "high": {"mAP": float("nan"), "AP50": float("nan"), "AP75": float("nan"), "n_images": 7},
    }
    table = detection.map_table(summaries, radius=128, n_beyond=2)
    assert table.columns.tolist() == ["version", "radius", "mAP", "AP50", "AP75", "n_images", "n_beyond_radius"]
    assert table["version"].tolist() == ["original", "low", "high"] and table["radius"].tolist() == [0, 128, 128]
    md = detection.markdown_table(table, n_better=3, n_compared=6, caption="CAPTION")
    assert "| x (original) | 30.0 | 35.6 | -5.6 |" in md
    assert "| x_l (LFC, r = 128) | 25.0 | 27.5 | -2.5 |" in md and "| 10.7 | – |" in md
    assert "**3** of 6" in md and "1,684" in md and "CAPTION" in md and "2 image(s)" in md


# --- set-up errors and weights -----------------------------------------------------------------


def test_missing_coco_and_weights_say_how_to_provide_them(tmp_path):
    with pytest.raises(detection.DetectionSetupError, match="detection.coco_root is not set.*val2017"):
        detection.coco_paths(None)
    with pytest.raises(detection.DetectionSetupError, match="instances_val2017.json"):
        detection.coco_paths(tmp_path)
    with pytest.raises(detection.DetectionSetupError, match="detection.weights is not set.*COCO_V1"):
        detection.resolve_weights("retinanet_resnet50_fpn", None)
    with pytest.raises(detection.DetectionSetupError, match="does not exist"):
        detection.resolve_weights("retinanet_resnet50_fpn", tmp_path / "missing.pth")
    with pytest.raises(detection.DetectionSetupError, match="RetinaNet_ResNet50_FPN_Weights.COCO_V1"):
        detection.resolve_weights("retinanet_resnet50_fpn", "COCO_V9")
    with pytest.raises(detection.DetectionSetupError, match="not supported"):
        detection.resolve_weights("yolo", "x.pth")
    kind, weights = detection.resolve_weights("retinanet_resnet50_fpn_v2", "COCO_V1")
    assert kind == "torchvision" and weights.name == "COCO_V1" and "v2" in weights.url
    problems = detection.setup_problems({"coco_root": None, "weights": None})
    assert len(problems) == 2


def test_offline_download_failure_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(detection.DetectionSetupError, match=r"retinanet_resnet50_fpn_coco-.*\.pth.*detection.weights"):
        detection.load_detector("retinanet_resnet50_fpn", "RetinaNet_ResNet50_FPN_Weights.COCO_V1")


def test_weight_name_and_weight_file_load_as_torchvision_does(tmp_path, monkeypatch):
    # A made-up state dict stored where torchvision caches its COCO_V1 file: torchvision's own
    # builder, the weight name and the file path must then give one and the same detector
    # (frozen BatchNorm with eps 0 for this legacy file).
    weights = torchvision.models.detection.RetinaNet_ResNet50_FPN_Weights.COCO_V1
    torch.manual_seed(0)
    state = torchvision.models.detection.retinanet_resnet50_fpn(weights=None, weights_backbone=None).state_dict()
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    # A small variance in the stem's BatchNorm makes eps 1e-5 and 0 give different features.
    state["backbone.body.bn1.running_var"] = 1e-4 * (1 + torch.rand(64))
    cache = tmp_path / "torch/hub/checkpoints"
    cache.mkdir(parents=True)
    path = cache / weights.url.rsplit("/", 1)[1]
    torch.save(state, path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    size = {"min_size": 64, "max_size": 96}
    reference = torchvision.models.detection.retinanet_resnet50_fpn(weights=weights, **size).eval()
    by_name = detection.load_detector("retinanet_resnet50_fpn", "RetinaNet_ResNet50_FPN_Weights.COCO_V1", **size)
    by_file = detection.load_detector("retinanet_resnet50_fpn", str(path), **size)
    image = [torch.rand(3, 40, 56)]
    with torch.inference_mode():
        features = [m.backbone(m.transform(image)[0].tensors)["0"] for m in (reference, by_name, by_file)]
        wrong_eps = detection.build_detector(num_classes=91, state_dict=state, batchnorm_eps=1e-5, **size)
        wrong = wrong_eps.backbone(wrong_eps.transform(image)[0].tensors)["0"]
    torch.testing.assert_close(features[1], features[0], rtol=0, atol=0)
    torch.testing.assert_close(features[2], features[0], rtol=0, atol=0)
    assert not torch.allclose(wrong, features[0])


def test_schema_models_match_the_registry():
    schema = load_schema()["properties"]["detection"]["properties"]
    assert schema["model"]["enum"] == list(detection.MODELS)


# --- end to end ---------------------------------------------------------------------------------


@needs_pycocotools
def test_tiny_coco_end_to_end_with_an_untrained_detector(coco):
    root, gt = coco
    torch.manual_seed(0)
    detector = detection.build_detector(**TINY)
    images = detection.select_images(gt.dataset["images"])
    assert detection.select_images(images[::-1], 2) == images[:2]
    results, table = detection.run_detection(
        detector, root / "val2017", images, gt.getCatIds(), radius=RADIUS, rescale=True, batch_size=2
    )
    assert table["image_id"].tolist() == [10, 20, 30, 40, 50, 60]
    assert table["beyond_radius"].tolist() == [False, False, False, False, True, True]
    for version in detection.VERSIONS:
        assert {r["image_id"] for r in results[version]} == set(table["image_id"])
        assert {r["category_id"] for r in results[version]} <= {1, 2, 3}
    # The untrained detector answers differently to the three versions, but on the images
    # beyond the radius the LFC *is* the image (rescaled by its maximum only).
    assert results["original"] != results["high"] and results["original"] != results["low"]
    for image_id in (50, 60):
        pick = lambda version: [r for r in results[version] if r["image_id"] == image_id]
        assert pick("low") == pick("original") and pick("low")
    summaries, per_image = {}, {}
    for version in detection.VERSIONS:
        summaries[version], evaluator = detection.evaluate(gt, results[version], table["image_id"])
        per_image[version] = detection.per_image_ap(evaluator)
        assert 0.0 <= summaries[version]["mAP"] <= 1.0
    out = detection.map_table(summaries, RADIUS, int(table["beyond_radius"].sum()))
    assert out["n_images"].tolist() == [6, 6, 6] and out["n_beyond_radius"].tolist() == [0, 2, 2]
    # One by one gives the same detections as the size batches.
    single, _ = detection.run_detection(detector, root / "val2017", images[:2], gt.getCatIds(), RADIUS, True, batch_size=1)
    paired = [r for r in results["low"] if r["image_id"] in (10, 20)]
    assert [(r["image_id"], r["category_id"]) for r in single["low"]] == [(r["image_id"], r["category_id"]) for r in paired]
    np.testing.assert_allclose([r["score"] for r in single["low"]], [r["score"] for r in paired], atol=2e-5)


@pytest.mark.slow
@needs_pycocotools
def test_snakemake_detection_rules_on_tiny_coco(tmp_path, repo_root):
    write_tiny_coco(tmp_path / "coco")
    fakedata.write_idx_dataset(tmp_path / "fake-data" / "fashion_mnist")  # tiny.yaml's dataset.root must exist
    torch.manual_seed(0)
    torch.save(detection.build_detector(**TINY).state_dict(), tmp_path / "untrained.pth")
    config = yaml.safe_load((repo_root / "tests/configs/tiny.yaml").read_text())
    config["detection"] = {"enabled": True, "coco_root": "coco", "weights": "untrained.pth", "radius": RADIUS,
                           "batch_size": 2, **TINY}  # fmt: skip
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    targets = ["results/tables/detection.md", "results/detection/lfc_better.csv"]
    args = [*targets, "--cores", "2", "-s", str(repo_root / "Snakefile"), "--configfile", "config.yaml"]
    result = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    table = pd.read_csv(tmp_path / "results/detection/map.csv")
    assert table["version"].tolist() == ["original", "low", "high"] and table["radius"].tolist() == [0, RADIUS, RADIUS]
    assert table["mAP"].between(0, 1).all() and (table["n_images"] == len(IMAGES)).all()
    per_image = pd.read_csv(tmp_path / "results/detection/per_image_ap.csv")
    better = pd.read_csv(tmp_path / "results/detection/lfc_better.csv")
    wide = per_image.pivot(index="image_id", columns="version", values="ap")
    assert sorted(better["image_id"]) == sorted(wide.index[wide["low"] > wide["original"]])
    assert "35.6" in (tmp_path / "results/tables/detection.md").read_text()
    assert (tmp_path / "results/benchmarks/detection/infer.tsv").is_file()


@pytest.mark.slow
def test_missing_weights_fail_the_job_with_advice(tmp_path, repo_root):
    write_tiny_coco(tmp_path / "coco")
    fakedata.write_idx_dataset(tmp_path / "fake-data" / "fashion_mnist")  # tiny.yaml's dataset.root must exist
    config = yaml.safe_load((repo_root / "tests/configs/tiny.yaml").read_text())
    config["detection"] = {"enabled": True, "coco_root": "coco", "weights": None}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    args = ["results/detection/images.csv", "--cores", "1", "-s", str(repo_root / "Snakefile"), "--configfile", "config.yaml"]
    result = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert "WARNING (detection study): detection.weights is not set" in result.stderr
    log = (tmp_path / "results/logs/detection/infer.log").read_text()
    assert "DetectionSetupError" in log and "detection.weights is not set" in log
