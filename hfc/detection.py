"""Paper §7: a COCO detector on original images and on their LFC / HFC (optional study).

The paper ran RetinaNet (ResNet-50 + FPN) on the 5,000 COCO val2017 images, then on their
low- and high-frequency parts at r = 128, and got 35.6 / 27.5 / 10.7 % mAP; it also counted
1,684 images on which "some objects are recognized better" on the LFC image.

What is done here, and the choices the paper leaves open:

- **Split.** Every image is split at its own size (:func:`hfc.frequency.split`, per channel,
  mask centred as in the authors' code). Images of one size are batched together, so a batch
  is identical to running its images one by one (no padding between images of different sizes).
  An image whose half diagonal is below r (at r = 128, e.g. a square of at most 181×181 pixels)
  has no frequency bin at distance >= r: its LFC *is* the image and its HFC is zero. That is the split's own
  limit (:func:`hfc.frequency.check_radius` refuses such radii), so these images are counted
  (``beyond_radius`` in ``images.csv``) instead of being skipped.
- **Pixel scale.** As in the classification pipeline: when ``rescale`` (config
  ``frequency.rescale``) each LFC / HFC image is divided by its own maximum
  (:func:`hfc.frequency.rescale_by_max`); nothing is clipped, so the HFC keeps its negative
  values. The detector normalises with its ImageNet mean / std as for any input.
- **Labels.** torchvision's COCO detectors predict the COCO category id itself (91 outputs,
  some unused), so a label is written as ``category_id`` unchanged; labels that are no
  category of the annotation file are dropped.
- **Per-image score.** "Recognized better" is read as a higher per-image AP: COCO's AP
  (IoU 0.50:0.95, all areas, 100 detections) computed over that image alone, i.e. the mean,
  over the categories with at least one non-crowd object in the image, of COCOeval's
  interpolated precision. :func:`per_image_ap` gets it from one COCOeval run over all images
  and equals running COCOeval with ``params.imgIds = [image_id]`` (tests check that). Images
  without annotated objects have no AP and are not compared.

pycocotools is imported only by the evaluation functions (extra ``detection`` of the package).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from hfc.files import UnreadableFileError, load_tensors
from hfc.frequency import max_radius, rescale_by_max, split

__all__ = [
    "VERSIONS",
    "PAPER",
    "MODELS",
    "DetectionSetupError",
    "coco_paths",
    "user_files",
    "setup_problems",
    "read_annotations",
    "select_images",
    "caption",
    "resolve_weights",
    "build_detector",
    "load_detector",
    "frequency_versions",
    "CocoImages",
    "size_batches",
    "detections_to_coco",
    "run_detection",
    "load_coco",
    "evaluate",
    "per_image_ap",
    "per_image_table",
    "lfc_better",
    "map_table",
    "markdown_table",
    "write_detections",
    "read_detections",
]

VERSIONS = ("original", "low", "high")

# Paper §7 (RetinaNet ResNet-50 + FPN trained on COCO train, evaluated on the 5,000 val2017 images).
PAPER = {
    "radius": 128,
    "n_images": 5000,
    "map": {"original": 0.356, "low": 0.275, "high": 0.107},
    "lfc_better": 1684,
}

# torchvision builders this study accepts. Their pretrained weights were built with frozen
# BatchNorm; the legacy RetinaNet COCO_V1 file also expects BatchNorm eps = 0 (torchvision
# overwrites it after loading), which the other weights do not.
# Names of torchvision.models.detection builders: the Snakefile imports this module at parse
# time, and importing torchvision costs seconds there, so it is imported where a job needs it.
MODELS = ("retinanet_resnet50_fpn", "retinanet_resnet50_fpn_v2")
_ZERO_EPS_WEIGHTS = {"RetinaNet_ResNet50_FPN_Weights.COCO_V1"}

_COCO_HELP = (
    "set detection.coco_root to a folder holding COCO 2017's val2017/ (the 5,000 images of "
    "val2017.zip) and annotations/instances_val2017.json (from annotations_trainval2017.zip), "
    "both from the COCO dataset's download page; see docs/detection.md"
)


class DetectionSetupError(ValueError):
    """The COCO folder or the detector's weights are missing or unusable (message says how to fix)."""


def coco_paths(coco_root: str | os.PathLike | None, split_name: str = "val2017") -> tuple[Path, Path]:
    """Return ``(image folder, annotation file)`` of ``coco_root``, or say what is missing."""
    if not coco_root:
        raise DetectionSetupError(f"detection.coco_root is not set: {_COCO_HELP}")
    root = Path(coco_root)
    images = root / split_name
    annotations = root / "annotations" / f"instances_{split_name}.json"
    missing = [str(p) for p in (images, annotations) if not p.exists()]
    if missing:
        raise DetectionSetupError(f"COCO files not found: {', '.join(missing)}; {_COCO_HELP}")
    return images, annotations


def user_files(settings: Mapping) -> dict[str, str]:
    """The user's annotation file and weight file (``detection`` settings) where they exist.

    The rules take them as inputs, so that changing them reruns the study; a missing one is
    left out and the job then stops with :func:`coco_paths` / :func:`resolve_weights`'s advice.
    """
    files = {}
    if settings.get("coco_root"):
        annotations = Path(settings["coco_root"]) / "annotations" / "instances_val2017.json"
        if annotations.is_file():
            files["annotations"] = str(annotations)
    if settings.get("weights"):
        weights = Path(str(settings["weights"])).expanduser()
        if weights.is_file():
            files["weights"] = str(weights)
    return files


def setup_problems(settings: Mapping) -> list[str]:
    """What keeps the study from running (empty when the COCO folder and weights look usable)."""
    problems = []
    try:
        coco_paths(settings.get("coco_root"))
    except DetectionSetupError as error:
        problems.append(str(error))
    try:
        resolve_weights(settings.get("model", "retinanet_resnet50_fpn"), settings.get("weights"))
    except DetectionSetupError as error:
        problems.append(str(error))
    return problems


def read_annotations(annotation_file: str | os.PathLike) -> dict:
    """The annotation json as a dict (inference needs only its images and categories, no pycocotools)."""
    return json.loads(Path(annotation_file).read_text())


def select_images(images: Sequence[Mapping], max_images: int | None = None) -> list[dict]:
    """COCO image records (the annotation file's ``images``) in id order, the first ``max_images`` (None = all)."""
    images = sorted(images, key=lambda image: int(image["id"]))
    if max_images is not None:
        if max_images < 1:
            raise ValueError(f"detection.max_images must be >= 1 or null, got {max_images}")
        images = images[:max_images]
    return images


def caption(settings: Mapping, rescale: bool, n_images: int) -> str:
    """One line saying what was run (the Markdown table's caption)."""
    scale = "each divided by its own maximum" if rescale else "unscaled"
    subset = "" if settings.get("max_images") is None else f" (the first {settings['max_images']} by id)"
    return (
        f"{settings['model']} with weights {settings['weights']}, images resized to min {settings['min_size']} / "
        f"max {settings['max_size']} px, score threshold {settings['score_thresh']}; {n_images} COCO val2017 "
        f"images{subset}; LFC / HFC at r = {settings['radius']} per channel at each image's own size, {scale}, "
        "not clipped"
    )


def _weights_enum(model: str, name: str):
    """The torchvision weights named ``name`` (``COCO_V1`` or ``RetinaNet_..._Weights.COCO_V1``) of ``model``."""
    import torchvision  # lazily (see MODELS)

    options = torchvision.models.get_model_weights(model)
    short = name.split(".", 1)[1] if "." in name else name
    prefix = name.split(".", 1)[0] if "." in name else options.__name__
    if prefix != options.__name__ or short not in options.__members__:
        known = ", ".join(f"{options.__name__}.{k}" for k in options.__members__)
        raise DetectionSetupError(
            f"detection.weights {name!r} is neither an existing file nor a torchvision weight of "
            f"{model}; give the path of a .pth state dict or one of: {known}"
        )
    return options[short]


def resolve_weights(model: str, weights: str | os.PathLike | None) -> tuple[str, object]:
    """Classify ``detection.weights`` as ``("file", Path)`` or ``("torchvision", weights enum)``.

    Nothing is loaded or downloaded here; :func:`load_detector` does that.
    """
    if model not in MODELS:
        raise DetectionSetupError(f"detection.model {model!r} is not supported; choose one of {', '.join(MODELS)}")
    if weights is None or str(weights).strip() == "":
        import torchvision  # lazily (see MODELS)

        options = torchvision.models.get_model_weights(model)
        raise DetectionSetupError(
            "detection.weights is not set: give the path of a .pth state dict of "
            f"{model} trained on COCO, or a torchvision weight name such as "
            f"{options.__name__}.COCO_V1, which torchvision downloads when online (or finds in "
            f"{torch.hub.get_dir()}/checkpoints)"
        )
    text = str(weights)
    path = Path(text).expanduser()
    if path.is_file():
        return "file", path
    if path.suffix in {".pth", ".pt"} or os.sep in text:
        raise DetectionSetupError(
            f"detection.weights file {path} does not exist; give the path of an existing .pth file "
            "or a torchvision weight name"
        )
    return "torchvision", _weights_enum(model, text)


def _freeze_batchnorm(module: nn.Module, eps: float) -> None:
    """Replace every BatchNorm2d by FrozenBatchNorm2d, as torchvision builds its pretrained detectors."""
    from torchvision.ops.misc import FrozenBatchNorm2d  # lazily (see MODELS)

    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, FrozenBatchNorm2d(child.num_features, eps=eps))
        else:
            _freeze_batchnorm(child, eps)


def build_detector(
    model: str = "retinanet_resnet50_fpn",
    num_classes: int = 91,
    min_size: int = 800,
    max_size: int = 1333,
    score_thresh: float = 0.05,
    state_dict: Mapping[str, torch.Tensor] | None = None,
    batchnorm_eps: float = 1e-5,
) -> nn.Module:
    """A torchvision detector in eval mode, with ``state_dict`` loaded when given.

    Without ``state_dict`` the network is randomly initialised (seed torch first): the tests'
    untrained detector. With one, BatchNorm is frozen at ``batchnorm_eps`` as in torchvision's
    own pretrained models, so a torchvision weight file loaded here gives torchvision's outputs.
    """
    if model not in MODELS:
        raise DetectionSetupError(f"detection.model {model!r} is not supported; choose one of {', '.join(MODELS)}")
    import torchvision  # lazily (see MODELS)

    detector = getattr(torchvision.models.detection, model)(
        weights=None,
        weights_backbone=None,
        num_classes=num_classes,
        min_size=min_size,
        max_size=max_size,
        score_thresh=score_thresh,
    )
    if state_dict is not None:
        _freeze_batchnorm(detector, batchnorm_eps)
        try:
            detector.load_state_dict(state_dict)
        except RuntimeError as error:
            raise DetectionSetupError(
                f"the weights do not fit {model} with {num_classes} classes (set detection.model and "
                f"detection.num_classes to those the weights were trained with): {error}"
            ) from error
    return detector.eval()


def load_detector(
    model: str,
    weights: str | os.PathLike | None,
    num_classes: int = 91,
    min_size: int = 800,
    max_size: int = 1333,
    score_thresh: float = 0.05,
) -> nn.Module:
    """The pretrained detector of ``detection.weights`` (a .pth file or a torchvision weight name).

    A torchvision name is loaded from torch's hub cache, downloaded there when absent (needs
    internet). A file is a state dict (or a checkpoint with a ``model`` entry, as torchvision's
    detection reference scripts save); a file named like torchvision's own weight file is read
    exactly as torchvision reads that weight.
    """
    kind, source = resolve_weights(model, weights)
    if kind == "torchvision":
        try:
            state_dict = source.get_state_dict(progress=False, check_hash=True)
        except Exception as error:  # urllib/socket/hash errors all mean: no usable file here
            cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(source.url).name
            raise DetectionSetupError(
                f"could not get the weights {source} ({type(error).__name__}: {error}). This machine "
                f"may be offline: download {source.url} elsewhere and either put it at {cache} or "
                "set detection.weights to its path"
            ) from error
        name = f"{type(source).__name__}.{source.name}"
        num_classes = len(source.meta["categories"])
    else:
        try:
            state_dict = load_tensors(
                source, what="detection.weights", advice="set detection.weights to a state_dict file (.pth)"
            )
        except UnreadableFileError as error:
            raise DetectionSetupError(str(error)) from None
        if isinstance(state_dict, Mapping) and isinstance(state_dict.get("model"), Mapping):
            state_dict = state_dict["model"]
        if not isinstance(state_dict, Mapping):
            raise DetectionSetupError(f"detection.weights {source} holds a {type(state_dict).__name__}, not a state dict")
        import torchvision  # lazily (see MODELS)

        name = next(
            (
                f"{type(w).__name__}.{w.name}"
                for w in torchvision.models.get_model_weights(model)
                if Path(w.url).name == source.name
            ),
            None,
        )
    eps = 0.0 if name in _ZERO_EPS_WEIGHTS else 1e-5
    return build_detector(model, num_classes, min_size, max_size, score_thresh, state_dict, batchnorm_eps=eps)


def frequency_versions(
    images: torch.Tensor, radius: float, rescale: bool
) -> tuple[dict[str, torch.Tensor], bool]:
    """``({"original", "low", "high"}: N×C×H×W, beyond)`` for same-size images in [0, 1].

    ``beyond`` is True when ``radius`` exceeds the images' largest centre-to-bin distance:
    every frequency is then in the low band, so low = the images and high = 0 (module doc).
    """
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(f"images must be a float N×C×H×W tensor in [0, 1], got {images.dtype} {tuple(images.shape)}")
    height, width = images.shape[-2:]
    beyond = radius > max_radius(height, width)
    if beyond:
        low, high = images, torch.zeros_like(images)
    else:
        low, high = split(images, radius)
    if rescale:
        low, high = rescale_by_max(low), rescale_by_max(high)
    return {"original": images, "low": low, "high": high}, beyond


class CocoImages(torch.utils.data.Dataset):
    """Batches of same-size COCO images as ``(image ids, uint8 N×3×H×W)``; grey images become RGB.

    PIL decodes, as in torchvision's detection reference evaluation.
    """

    def __init__(self, image_dir: str | os.PathLike, images: Sequence[Mapping], batches: Sequence[Sequence[int]]):
        self.image_dir = Path(image_dir)
        self.by_id = {int(image["id"]): image for image in images}
        self.batches = [list(batch) for batch in batches]

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> tuple[list[int], torch.Tensor]:
        import torchvision  # lazily (see MODELS)
        from PIL import Image

        ids = self.batches[index]
        tensors = []
        for image_id in ids:
            path = self.image_dir / self.by_id[image_id]["file_name"]
            with Image.open(path) as image:
                tensors.append(torchvision.transforms.functional.pil_to_tensor(image.convert("RGB")))
        if len({t.shape for t in tensors}) > 1:
            sizes = {i: tuple(t.shape[1:]) for i, t in zip(ids, tensors)}
            raise ValueError(f"images {sizes} differ in size although the annotation file gives them one size")
        return ids, torch.stack(tensors)


def size_batches(images: Sequence[Mapping], batch_size: int) -> list[list[int]]:
    """Image ids grouped by (height, width) from the annotation file, in id order, ``batch_size`` at most."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    groups: dict[tuple[int, int], list[int]] = {}
    for image in sorted(images, key=lambda image: int(image["id"])):
        groups.setdefault((int(image["height"]), int(image["width"])), []).append(int(image["id"]))
    return [ids[i : i + batch_size] for ids in groups.values() for i in range(0, len(ids), batch_size)]


def detections_to_coco(image_id: int, output: Mapping[str, torch.Tensor], category_ids: Iterable[int]) -> list[dict]:
    """One image's torchvision output (xyxy boxes) as COCO result records (xywh boxes)."""
    keep = set(int(c) for c in category_ids)
    boxes = output["boxes"].detach().double().cpu()
    xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1).tolist()
    records = []
    for box, score, label in zip(xywh, output["scores"].tolist(), output["labels"].tolist()):
        if int(label) in keep:
            records.append(
                {
                    "image_id": int(image_id),
                    "category_id": int(label),
                    "bbox": [round(v, 2) for v in box],
                    "score": round(float(score), 5),
                }
            )
    return records


@torch.inference_mode()
def run_detection(
    detector: nn.Module,
    image_dir: str | os.PathLike,
    images: Sequence[Mapping],
    category_ids: Iterable[int],
    radius: float,
    rescale: bool,
    device: torch.device | str = "cpu",
    batch_size: int = 1,
    workers: int = 0,
    log=None,
) -> tuple[dict[str, list[dict]], pd.DataFrame]:
    """Detect on every image of ``images`` (COCO image records) as original, LFC and HFC.

    Returns ``({version: COCO result records}, per-image table)``; the table has
    image_id, file_name, height, width, beyond_radius (see :func:`frequency_versions`).
    """
    device = torch.device(device)
    detector = detector.to(device).eval()
    category_ids = list(category_ids)
    batches = size_batches(images, batch_size)
    loader = torch.utils.data.DataLoader(
        CocoImages(image_dir, images, batches),
        batch_size=None,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    results: dict[str, list[dict]] = {version: [] for version in VERSIONS}
    beyond_ids: set[int] = set()
    for step, (ids, pixels) in enumerate(loader, start=1):
        x = pixels.to(device, non_blocking=True).float().div_(255)
        versions, beyond = frequency_versions(x, radius, rescale)
        if beyond:
            beyond_ids.update(ids)
        for version in VERSIONS:
            outputs = detector(list(versions[version]))
            for image_id, output in zip(ids, outputs):
                results[version].extend(detections_to_coco(image_id, output, category_ids))
        if log is not None and (step % 100 == 0 or step == len(batches)):
            log(f"batch {step} of {len(batches)}")
    table = pd.DataFrame(
        {
            "image_id": [int(i["id"]) for i in images],
            "file_name": [i["file_name"] for i in images],
            "height": [int(i["height"]) for i in images],
            "width": [int(i["width"]) for i in images],
        }
    ).sort_values("image_id", ignore_index=True)
    table["beyond_radius"] = table["image_id"].isin(beyond_ids)
    return results, table


# --- evaluation (pycocotools) -------------------------------------------------------------------


def _pycocotools():
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as error:
        raise ImportError(
            "the detection study needs pycocotools: pip install 'hfc-repro[detection]' "
            "(or pip install pycocotools), or run with --software-deployment-method conda"
        ) from error
    return COCO, COCOeval


def load_coco(annotation_file: str | os.PathLike):
    """The ground truth as a pycocotools ``COCO`` object (its progress lines are silenced)."""
    COCO, _ = _pycocotools()
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(annotation_file))


def _results(gt, detections: Sequence[Mapping]):
    """``gt.loadRes`` on a copy; an empty list (which loadRes cannot take) gives an empty result set."""
    COCO, _ = _pycocotools()
    if detections:
        with contextlib.redirect_stdout(io.StringIO()):
            return gt.loadRes(copy.deepcopy(list(detections)))
    empty = COCO()
    empty.dataset = {"images": list(gt.dataset["images"]), "categories": copy.deepcopy(gt.dataset["categories"]), "annotations": []}
    with contextlib.redirect_stdout(io.StringIO()):
        empty.createIndex()
    return empty


def evaluate(gt, detections: Sequence[Mapping], image_ids: Iterable[int] | None = None) -> tuple[dict, object]:
    """COCO bbox evaluation of ``detections`` on ``image_ids`` (default: every image of ``gt``).

    Returns ``({"mAP", "AP50", "AP75", "n_images"}, the evaluated COCOeval)``. Detections on
    images outside ``image_ids`` are ignored.
    """
    _, COCOeval = _pycocotools()
    ids = sorted(int(i) for i in (gt.getImgIds() if image_ids is None else image_ids))
    if not ids:
        raise ValueError("no images to evaluate")
    kept = set(ids)
    dt = _results(gt, [d for d in detections if int(d["image_id"]) in kept])
    evaluator = COCOeval(gt, dt, "bbox")
    evaluator.params.imgIds = ids
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = evaluator.stats
    # COCOeval reports -1 when no image holds an annotated object; that is no score, not a score of -1.
    clean = lambda v: float("nan") if v < 0 else float(v)
    return {"mAP": clean(stats[0]), "AP50": clean(stats[1]), "AP75": clean(stats[2]), "n_images": len(ids)}, evaluator


def per_image_ap(evaluator) -> pd.Series:
    """Per-image COCO AP (IoU 0.50:0.95, area "all", the largest maxDets) from an evaluated COCOeval.

    The same numbers as a COCOeval restricted to that one image (``params.imgIds = [id]``),
    computed from ``evaluator.evalImgs`` without re-matching. NaN for an image with no
    non-ignored ground-truth object.
    """
    p = evaluator.params
    if not evaluator.evalImgs:
        raise ValueError("per_image_ap needs a COCOeval on which evaluate() has run")
    image_ids = list(p.imgIds)
    n_images, n_areas = len(image_ids), len(p.areaRng)
    all_area = list(p.areaRngLbl).index("all")
    max_det = p.maxDets[-1]
    rec_thrs = np.asarray(p.recThrs)
    out = {}
    for i, image_id in enumerate(image_ids):
        per_category = []
        for k in range(len(p.catIds)):
            e = evaluator.evalImgs[k * n_areas * n_images + all_area * n_images + i]
            if e is None:
                continue
            gt_ignore = np.asarray(e["gtIgnore"])
            npig = np.count_nonzero(gt_ignore == 0)
            if npig == 0:
                continue
            scores = np.asarray(e["dtScores"][:max_det])
            order = np.argsort(-scores, kind="mergesort")
            matched = np.asarray(e["dtMatches"])[:, :max_det][:, order]
            ignored = np.asarray(e["dtIgnore"])[:, :max_det][:, order]
            tp = np.cumsum(np.logical_and(matched, ~ignored.astype(bool)), axis=1).astype(float)
            fp = np.cumsum(np.logical_and(~matched.astype(bool), ~ignored.astype(bool)), axis=1).astype(float)
            q = np.zeros((tp.shape[0], len(rec_thrs)))
            if tp.shape[1]:
                recall = tp / npig
                precision = tp / (tp + fp + np.spacing(1))
                # COCO's interpolation: precision made non-increasing from the right.
                precision = np.flip(np.maximum.accumulate(np.flip(precision, axis=1), axis=1), axis=1)
                for t in range(tp.shape[0]):
                    idx = np.searchsorted(recall[t], rec_thrs, side="left")
                    valid = idx < tp.shape[1]
                    q[t, valid] = precision[t, idx[valid]]
            per_category.append(q.mean())
        out[int(image_id)] = float(np.mean(per_category)) if per_category else float("nan")
    return pd.Series(out, name="ap").rename_axis("image_id")


def per_image_table(per_version: Mapping[str, pd.Series]) -> pd.DataFrame:
    """Long table image_id, version, ap from ``{version: per_image_ap(...)}``."""
    frames = [
        pd.DataFrame({"image_id": series.index.astype(int), "version": version, "ap": series.to_numpy()})
        for version, series in per_version.items()
    ]
    return pd.concat(frames, ignore_index=True)


def lfc_better(original: pd.Series, low: pd.Series, file_names: Mapping[int, str] | None = None) -> pd.DataFrame:
    """Images whose per-image AP is strictly higher on x_l than on x (both defined), by id.

    Columns image_id, file_name, ap_original, ap_low, delta.
    """
    both = pd.DataFrame({"ap_original": original, "ap_low": low}).dropna()
    better = both[both["ap_low"] > both["ap_original"]].copy()
    better["delta"] = better["ap_low"] - better["ap_original"]
    better = better.rename_axis("image_id").reset_index().sort_values("image_id", ignore_index=True)
    names = file_names or {}
    better.insert(1, "file_name", [names.get(int(i), "") for i in better["image_id"]])
    return better


def map_table(summaries: Mapping[str, Mapping], radius: int, n_beyond: int = 0) -> pd.DataFrame:
    """map.csv: version, radius (0 for the original), mAP, AP50, AP75, n_images, n_beyond_radius."""
    rows = []
    for version in VERSIONS:
        s = summaries[version]
        rows.append(
            {
                "version": version,
                "radius": 0 if version == "original" else int(radius),
                "mAP": s["mAP"],
                "AP50": s["AP50"],
                "AP75": s["AP75"],
                "n_images": int(s["n_images"]),
                "n_beyond_radius": 0 if version == "original" else int(n_beyond),
            }
        )
    return pd.DataFrame(rows)


def _pct(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def markdown_table(table: pd.DataFrame, n_better: int, n_compared: int, caption: str) -> str:
    """results/tables/detection.md: our mAP beside the paper's (percent), and the LFC-better count."""
    radius = int(table.loc[table["version"] != "original", "radius"].iloc[0])
    names = {"original": "x (original)", "low": f"x_l (LFC, r = {radius})", "high": f"x_h (HFC, r = {radius})"}
    beyond = int(table["n_beyond_radius"].max())
    lines = [
        "# §7: object detection on original, LFC and HFC images",
        "",
        caption,
        "",
        "| input | mAP | paper mAP | Δ | AP50 | AP75 | n images |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        paper = PAPER["map"][row.version]
        delta = "–" if math.isnan(row.mAP) else f"{100 * (row.mAP - paper):+.1f}"
        lines.append(
            f"| {names[row.version]} | {_pct(row.mAP)} | {100 * paper:.1f} | {delta} | "
            f"{_pct(row.AP50)} | {_pct(row.AP75)} | {row.n_images} |"
        )
    share = f" ({100 * n_better / n_compared:.1f} %)" if n_compared else ""
    lines += [
        "",
        f"Images on which x_l scores a higher per-image AP than x: **{n_better}** of {n_compared} images "
        f"with annotated objects{share}; the paper: {PAPER['lfc_better']:,} of {PAPER['n_images']:,}"
        f" (r = {PAPER['radius']}).",
        "",
        "mAP in percent, COCO bbox AP at IoU 0.50:0.95 (pycocotools); per-image AP: the same "
        "over one image's annotated categories. The paper: RetinaNet ResNet-50 + FPN on COCO val2017.",
        "",
    ]
    if beyond:
        lines += [
            f"{beyond} image(s) have a half diagonal below r = {radius}: every frequency is in the low "
            "band, so their x_l is the image and their x_h is zero.",
            "",
        ]
    return "\n".join(lines)


def write_detections(path: str | os.PathLike, records: Sequence[Mapping]) -> None:
    Path(path).write_text(json.dumps(list(records)))


def read_detections(path: str | os.PathLike) -> list[dict]:
    return json.loads(Path(path).read_text())
