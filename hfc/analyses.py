"""One model's analyses beyond the paper, the same for a model the workflow trained and for an
external one (hfc.external): each returns a tidy frame with the model's name and seed.

- ``frequency_response``: :func:`hfc.response.frequency_response` (x_l / x_h at every radius).
- ``figure2_count``: the Figure 2 count against chance at each radius
  (:func:`hfc.robustness.story_predictions` / :func:`~hfc.robustness.story_summary`), the
  LFC/HFC parts made here with :func:`hfc.frequency.split_many` (rescaled as in training when
  the config rescales).
- ``attacks``: :func:`hfc.attack_suite.smoothing_attack_table`, the smoothing × attack table
  under the whole suite of ``robustness.suite`` (FGSM, PGD with restarts, APGD-CE/DLR, Square,
  and their worst case). It smooths the first ``nn.Conv2d``: a model without one (a TorchScript
  archive, whose layers are compiled) is refused, and :mod:`hfc.external` refuses it at parse time.
- ``fourier_heatmap``: :func:`hfc.fourier_heatmap.fourier_heatmap`.

Nothing here reads workflow files; the workflow script ``model_analysis.py`` loads the model and
images and calls :func:`analyse`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from hfc import data as hfc_data
from hfc import attack_suite, fourier_heatmap, response, robustness
from hfc.frequency import max_radius, rescale_by_max, split_many

__all__ = ["KINDS", "story_counts", "analyse", "analysis_images", "select"]

KINDS = ("frequency_response", "figure2_count", "attacks", "fourier_heatmap")


def story_counts(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    radii: Sequence[int],
    *,
    rescale: bool,
    batch_size: int,
    name: str,
    seed: int,
) -> pd.DataFrame:
    """Figure 2 count (right on x and x_h, wrong on x_l) and its chance level at each radius."""
    height, width = images.shape[-2:]
    limit = max_radius(int(height), int(width))
    usable = sorted(int(r) for r in radii if 0 < r <= limit)
    if not usable:
        raise ValueError(f"no radius of {list(radii)} fits {height}×{width} images (half diagonal {limit:.1f})")
    parts = split_many(images, usable)
    rows = []
    for radius in usable:
        low, high = parts[radius]
        if rescale:
            low, high = rescale_by_max(low), rescale_by_max(high)
        predictions = robustness.story_predictions(model, images, low, high, labels, batch_size)
        rows.append({"model": name, "seed": int(seed), "radius": radius, **robustness.story_summary(predictions)})
    return pd.DataFrame(rows)


def analysis_images(kind: str, settings: Mapping, default_size: int | None, default_seed: int):
    """(test_size, seed) of the stratified images ``kind`` uses."""
    if kind == "fourier_heatmap":
        return settings["fourier_heatmap"]["images"], settings["fourier_heatmap"]["seed"]
    if kind == "frequency_response":
        return settings["response"]["test_size"], settings["response"]["seed"]
    if kind == "attacks":
        suite = attack_suite.check_settings(settings["robustness"].get("suite") or {})
        return suite["test_size"], suite["seed"]
    return default_size, default_seed


def select(images_u8: torch.Tensor, labels: torch.Tensor, size: int | None, seed: int):
    """A stratified, seeded subset as float images in [0, 1] and their labels."""
    index = hfc_data.stratified_subset(labels, size, seed) if size is not None and size < len(labels) else None
    if index is not None:
        images_u8, labels = images_u8[index], labels[index]
    return hfc_data.to_float(images_u8), labels


def analyse(
    kind: str,
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    name: str,
    seed: int,
    settings: Mapping,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Run analysis ``kind`` (:data:`KINDS`) of ``model`` on ``images`` (N×C×H×W in [0, 1]).

    ``settings`` holds the config sections ``fourier_heatmap`` (analysis.fourier_heatmap),
    ``response``, ``robustness``, and ``radii``, ``rescale``, ``precision``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown analysis {kind!r}; known: {', '.join(KINDS)}")
    if kind == "frequency_response":
        s = settings["response"]
        curve = response.frequency_response(
            model, images, labels, rescale=settings["rescale"], batch_size=s["batch_size"],
            precision=settings.get("precision", "fp32"),
        )  # fmt: skip
        curve.insert(0, "seed", int(seed))
        curve.insert(0, "run", name)
        return curve
    if kind == "figure2_count":
        return story_counts(
            model, images, labels, settings["radii"], rescale=settings["rescale"],
            batch_size=settings["robustness"]["batch_size"], name=name, seed=seed,
        )  # fmt: skip
    if kind == "attacks":
        s = settings["robustness"]
        if not any(isinstance(m, nn.Conv2d) for m in model.modules()):
            raise ValueError(
                f"{name}: analysis 'attacks' smooths the kernels of the first nn.Conv2d (paper §6.3), but the "
                "model has none (a TorchScript archive's layers are compiled); leave 'attacks' out for it"
            )
        table = attack_suite.smoothing_attack_table(model, images, labels, s.get("suite") or {}, s["rhos"], log=log)
        for column, value in (("model", name), ("seed", int(seed)), ("run", name)):
            table.insert(0, column, value)
        return table
    s = settings["fourier_heatmap"]
    heatmap = fourier_heatmap.fourier_heatmap(
        model, images, labels, s["eps"], seed=s["seed"], batch_size=s["batch_size"], model_name=name, log=log
    )
    # the signs follow analysis.fourier_heatmap.seed; the column names the model's own seed
    return heatmap.assign(seed=int(seed))
