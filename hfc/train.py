"""Training runs with LFC/HFC evaluation after every epoch (paper §4–§5).

One run = one :class:`hfc.grid.RunSpec` and one seed. The whole training set and every
evaluation set live as tensors on the device; batches are slices of a seeded permutation, so
there is no per-sample DataLoader in the hot loop. After every epoch the model is evaluated on
the train and test sets, on the original images and on LFC/HFC at every configured radius,
and a checkpoint (model, optimizer, RNG states, metrics so far) is written atomically; a run
that finds a matching checkpoint resumes from it and ends with the same numbers as an
uninterrupted run.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from hfc import data as hfc_data
from hfc.files import UnreadableFileError, UnsafeFileError, atomic_save, load_tensors
from hfc.frequency import rescale_by_max
from hfc.grid import METRIC_COLUMNS, SWAP_BAND, RunSpec
from hfc.models import build_model
from hfc.seeding import seed_everything

__all__ = [
    "OPTIMIZERS",
    "HEURISTICS",
    "TrainingData",
    "EvalSet",
    "TrainingDiverged",
    "load_training_data",
    "derangement",
    "build_optimizer",
    "mixup_batch",
    "train_run",
    "evaluate",
    "save_model",
    "model_build_kwargs",
    "load_model",
    "METRIC_COLUMNS",
]

class TrainingDiverged(FloatingPointError):
    """The loss or the weights stopped being finite."""


# ----------------------------------------------------------------------------- optimizers

OPTIMIZERS: dict[str, Callable] = {}


def register_optimizer(name: str):
    def wrap(fn):
        OPTIMIZERS[name] = fn
        return fn

    return wrap


# Plain versions of each method, as the paper names them; momentum-free SGD is the paper's "SGD".
@register_optimizer("sgd")
def _sgd(params, lr):
    return torch.optim.SGD(params, lr=lr)


@register_optimizer("adam")
def _adam(params, lr):
    return torch.optim.Adam(params, lr=lr)


@register_optimizer("adagrad")
def _adagrad(params, lr):
    return torch.optim.Adagrad(params, lr=lr)


@register_optimizer("adadelta")
def _adadelta(params, lr):
    return torch.optim.Adadelta(params, lr=lr)


@register_optimizer("rmsprop")
def _rmsprop(params, lr):
    return torch.optim.RMSprop(params, lr=lr)


def build_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known optimizers: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, lr)


# ----------------------------------------------------------------------------- heuristics


def mixup_batch(
    images: torch.Tensor, labels: torch.Tensor, alpha: float, num_classes: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix-up (Zhang et al. 2018): convex combinations of images and of their one-hot labels.

    One λ ~ Beta(α, α) per batch, partner images from a permutation of the batch, as in the
    reference implementation. Returns mixed images and soft targets (rows sum to 1).
    """
    lam = _beta_sample(alpha, generator)
    perm = torch.randperm(images.shape[0], generator=generator).to(images.device)
    one_hot = F.one_hot(labels, num_classes).to(images.dtype)
    mixed = lam * images + (1 - lam) * images[perm]
    targets = lam * one_hot + (1 - lam) * one_hot[perm]
    return mixed, targets


def _beta_sample(alpha: float, generator: torch.Generator) -> float:
    """One Beta(α, α) draw from a torch generator (checkpointed with the run)."""
    # torch's Beta sampler takes no generator; a numpy draw seeded from the run's generator keeps
    # all randomness in the one checkpointed state.
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


@dataclass
class Heuristic:
    """A training heuristic: how the model is built and how a batch's loss is computed."""

    model_kwargs: Callable[[dict], dict] = lambda cfg: {}
    # loss(model, images, labels, cfg, num_classes, generator) -> scalar loss
    loss: Callable | None = None


def _plain_loss(model, images, labels, cfg, num_classes, generator):
    return F.cross_entropy(model(images), labels)


def _mixup_loss(model, images, labels, cfg, num_classes, generator):
    mixed, targets = mixup_batch(images, labels, cfg["mixup_alpha"], num_classes, generator)
    return torch.sum(-targets * F.log_softmax(model(mixed), dim=1), dim=1).mean()


def _adversarial_loss(model, images, labels, cfg, num_classes, generator):
    from hfc.attacks import pgd

    adv = cfg["adversarial"]
    adv_images = pgd(
        model,
        images,
        labels,
        eps=adv["eps"],
        steps=adv["steps"],
        step_size=adv["step_size"],
        random_start=adv["random_start"],
        generator=generator,
    )
    return F.cross_entropy(model(adv_images), labels)


HEURISTICS: dict[str, Heuristic] = {
    "vanilla": Heuristic(loss=_plain_loss),
    # Paper §5.1: dropout p = 0.5 on the fully connected layers.
    "dropout": Heuristic(model_kwargs=lambda cfg: {"dropout": cfg["dropout"]}, loss=_plain_loss),
    "mixup": Heuristic(loss=_mixup_loss),
    # Paper §5.1: BatchNorm with scale fixed at 1 and offset at 0 (no affine parameters).
    "batchnorm": Heuristic(model_kwargs=lambda cfg: {"batchnorm": True}, loss=_plain_loss),
    "adversarial": Heuristic(loss=_adversarial_loss),
}


# ----------------------------------------------------------------------------- data


@dataclass
class EvalSet:
    split: str  # train | test
    band: str  # original | low | high | high_swap (the shift control's own inputs)
    radius: int  # 0 for original
    images: torch.Tensor
    labels: torch.Tensor


@dataclass
class TrainingData:
    dataset: str
    images: torch.Tensor  # what the model is trained on (original, LFC or HFC), float on device
    labels: torch.Tensor  # natural or shuffled labels
    num_classes: int
    in_channels: int
    image_size: int
    mean: list[float]
    std: list[float]
    eval_sets: list[EvalSet] = field(default_factory=list)
    # Shift control (train_band high_swap): each training input is images[i] (x_h(r) of image
    # i) plus fill[j] (x_l(r) of another image j, redrawn every epoch); None for other runs.
    fill: torch.Tensor | None = None


def shuffled_labels(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """Labels permuted by one fixed seeded permutation (Zhang et al.'s shuffled-label set-up)."""
    g = torch.Generator().manual_seed(seed)
    return labels[torch.randperm(labels.shape[0], generator=g)]


def derangement(n: int, generator: torch.Generator) -> torch.Tensor:
    """A random permutation without fixed points: ``partner[i] != i`` for every i (n >= 2).

    One random n-cycle: each element's partner is the next one in a random order. The partner's
    label is independent of the element's own (the order is drawn without looking at labels).
    """
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 elements, got {n}")
    order = torch.randperm(n, generator=generator)
    partner = torch.empty(n, dtype=torch.int64)
    partner[order] = order.roll(-1)
    return partner


def load_training_data(
    subset_path: str,
    frequency_paths: dict[tuple[str, int], str],
    spec: RunSpec,
    radii: list[int],
    rescale: bool,
    eval_train_size: int | None,
    eval_test_size: int | None,
    eval_seed: int,
    label_seed: int,
    device: torch.device,
) -> TrainingData:
    """Assemble the training tensors and every evaluation set of one run on ``device``.

    ``frequency_paths`` maps (split, radius) to the file of the ``split_frequency`` rule.
    """
    subset = hfc_data.load_canonical(subset_path)
    train_labels = subset["train_labels"]
    if spec.labels == "shuffled":
        train_labels = shuffled_labels(train_labels, label_seed)
    elif spec.labels != "natural":
        raise ValueError(f"labels must be natural or shuffled, got {spec.labels!r}")

    eval_index = {
        "train": hfc_data.stratified_subset(subset["train_labels"], eval_train_size, eval_seed),
        "test": hfc_data.stratified_subset(subset["test_labels"], eval_test_size, eval_seed),
    }
    eval_labels = {"train": train_labels[eval_index["train"]], "test": subset["test_labels"][eval_index["test"]]}

    def prepare(x: torch.Tensor) -> torch.Tensor:
        return x.to(device=device, dtype=torch.float32)

    eval_sets = []
    for split in ("train", "test"):
        originals = hfc_data.to_float(subset[f"{split}_images"][eval_index[split]])
        eval_sets.append(EvalSet(split, "original", 0, originals.to(device), eval_labels[split].to(device)))

    train_images, fill = None, None
    if spec.train_band == "original":
        train_images = hfc_data.to_float(subset["train_images"]).to(device)
    for radius in radii:
        for split in ("train", "test"):
            # Read once; the shift control needs the raw components, everything else the rescaled.
            _, raw_low, raw_high = hfc_data.load_frequency_split(frequency_paths[(split, radius)], split, radius)
            if spec.train_band == SWAP_BAND and radius == spec.train_radius:
                # Raw components, not rescaled: x_h(i) + x_l(i) is the original image, so the
                # swapped sum x_h(i) + x_l(j) has a natural image's statistics in every band.
                if split == "train":
                    train_images, fill = prepare(raw_high), prepare(raw_low)
                # Its own inputs, for the train / own-band test accuracy: one fixed pairing.
                index = eval_index[split]
                partner = index[derangement(len(index), torch.Generator().manual_seed(eval_seed))]
                swapped = prepare(raw_high[index]) + prepare(raw_low[partner])
                eval_sets.append(EvalSet(split, SWAP_BAND, radius, swapped, eval_labels[split].to(device)))
            # Rescaled once per image here (per-image, so subsets of it stay identical).
            low, high = (rescale_by_max(raw_low), rescale_by_max(raw_high)) if rescale else (raw_low, raw_high)
            components = {"low": low, "high": high}
            for band in ("low", "high"):
                if split == "train" and band == spec.train_band and radius == spec.train_radius:
                    train_images = prepare(components[band])
                eval_sets.append(
                    EvalSet(split, band, radius, prepare(components[band][eval_index[split]]), eval_labels[split].to(device))
                )
    if train_images is None:
        raise ValueError(
            f"run trains on band {spec.train_band!r} at radius {spec.train_radius}, which is not among "
            f"frequency.radii {radii}; add the radius to the config"
        )
    _, channels, height, _ = subset["train_images"].shape
    return TrainingData(
        dataset=subset["name"],
        images=train_images,
        labels=train_labels.to(device),
        num_classes=len(subset["classes"]),
        in_channels=channels,
        image_size=height,
        mean=list(subset["mean"]),
        std=list(subset["std"]),
        eval_sets=eval_sets,
        fill=fill,
    )


# ----------------------------------------------------------------------------- evaluation


def autocast(device: torch.device, precision: str):
    """bf16 autocast on ``device`` when ``precision`` is ``bf16`` (losses/accumulators stay fp32)."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int, precision: str = "fp32"
) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` in eval mode, batched on the device.

    The loss is summed once over every image's logits, not per batch, so ``batch_size`` is a
    speed and memory setting: a number moves only where the CPU library picks another
    convolution kernel for another batch size (last float digits). On a CPU, batches of about
    100 are the fastest (``benchmarks/batch_size.py``).
    """
    was_training = model.training
    model.eval()
    chunks = []
    for start in range(0, images.shape[0], batch_size):
        with autocast(images.device, precision):
            chunks.append(model(images[start : start + batch_size]).float())
    model.train(was_training)
    logits = torch.cat(chunks)
    n = images.shape[0]
    correct = (logits.argmax(dim=1) == labels).sum()
    return float(correct) / n, float(F.cross_entropy(logits, labels, reduction="sum")) / n


# ----------------------------------------------------------------------------- runs


def _channels_last(data: TrainingData) -> TrainingData:
    def nhwc(x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last)

    eval_sets = [EvalSet(e.split, e.band, e.radius, nhwc(e.images), e.labels) for e in data.eval_sets]
    fill = None if data.fill is None else nhwc(data.fill)
    return TrainingData(**{**data.__dict__, "images": nhwc(data.images), "eval_sets": eval_sets, "fill": fill})


def model_build_kwargs(spec: RunSpec, data: TrainingData, settings: dict) -> dict:
    """Keyword arguments of :func:`hfc.models.build_model` for this run (saved with the model)."""
    return {
        "in_channels": data.in_channels,
        "num_classes": data.num_classes,
        "image_size": data.image_size,
        "mean": list(data.mean),
        "std": list(data.std),
        "width": float(settings.get("width_by_model", {}).get(spec.model, 1.0)),
        **HEURISTICS[spec.heuristic].model_kwargs(settings),
    }


def spec_fingerprint(spec: RunSpec, seed: int, settings: dict) -> str:
    """Hash of everything that decides a run; a checkpoint is resumed only when it matches."""
    blob = json.dumps({"spec": spec.as_dict(), "seed": seed, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _rng_state(generator: torch.Generator) -> dict:
    state = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict, generator: torch.Generator) -> None:
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def train_run(
    run: str,
    spec: RunSpec,
    data: TrainingData,
    seed: int,
    settings: dict,
    checkpoint_path: str | None = None,
    eval_batch_size: int = 500,
    log: Callable[[str], None] = print,
    progress: bool = True,
    stop_after_epoch: int | None = None,
) -> tuple[torch.nn.Module, pd.DataFrame]:
    """Train one run and return the model and its tidy metrics (see ``METRIC_COLUMNS``).

    ``settings`` holds the heuristic parameters (``dropout``, ``mixup_alpha``,
    ``adversarial``), ``max_loss_ratio`` (an epoch whose mean loss exceeds this multiple of
    the first batch's loss raises :class:`TrainingDiverged`, as does a non-finite loss; None
    turns the ratio check off) and whatever else must invalidate a checkpoint when it changes.
    ``stop_after_epoch`` ends the call early after that epoch's checkpoint (used by tests to
    simulate an interrupted job).
    """
    if spec.heuristic not in HEURISTICS:
        raise ValueError(f"unknown heuristic {spec.heuristic!r}; known heuristics: {', '.join(HEURISTICS)}")
    heuristic = HEURISTICS[spec.heuristic]
    device = data.images.device
    generator = seed_everything(seed)
    model = build_model(spec.model, **model_build_kwargs(spec, data, settings)).to(device)
    precision = settings.get("precision", "fp32")
    if settings.get("channels_last", False):
        # NHWC lets cuDNN use tensor-core kernels; set once here, not per batch.
        model = model.to(memory_format=torch.channels_last)
        data = _channels_last(data)
    optimizer = build_optimizer(spec.optimizer, model.parameters(), spec.lr)
    fingerprint = spec_fingerprint(spec, seed, settings)
    rows: list[dict] = []
    start_epoch = 1
    initial_loss: float | None = None
    max_ratio = settings.get("max_loss_ratio", 10)

    if checkpoint_path and os.path.exists(checkpoint_path):
        # A file that tries to run code stops the job (UnsafeFileError names it); one that is
        # merely unreadable is replaced by a fresh start.
        try:
            state = load_tensors(
                checkpoint_path, what="checkpoint", map_location=device,
                advice="delete it to train this run from scratch",
            )  # fmt: skip
        except UnsafeFileError:
            raise
        except UnreadableFileError as error:
            log(f"{error}; starting from scratch")
            state = None
        if state is not None and not isinstance(state, dict):
            log(f"checkpoint {checkpoint_path} holds a {type(state).__name__}, not a checkpoint; starting from scratch")
            state = None
        if state is not None and state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            _restore_rng(state["rng"], generator)
            rows = state["rows"]
            initial_loss = state.get("initial_loss")
            start_epoch = state["epoch"] + 1
            log(f"resuming {run} (seed {seed}) from the checkpoint of epoch {state['epoch']}")
        elif state is not None:
            log(f"checkpoint {checkpoint_path} belongs to other settings; starting from scratch")

    static = {
        "run": run, "dataset": data.dataset, "model": spec.model, "heuristic": spec.heuristic,
        "optimizer": spec.optimizer, "lr": spec.lr, "batch_size": spec.batch_size,
        "train_band": spec.train_band, "train_radius": spec.train_radius, "labels": spec.labels, "seed": seed,
    }  # fmt: skip
    n = data.images.shape[0]
    steps_per_epoch = math.ceil(n / spec.batch_size)
    for epoch in range(start_epoch, spec.epochs + 1):
        model.train()
        loss_sum = torch.zeros((), device=device)
        order = torch.randperm(n, generator=generator).to(device)
        if data.fill is not None:
            partner = derangement(n, generator).to(device)
        batches = range(steps_per_epoch)
        if progress:
            batches = tqdm(batches, desc=f"{run} s{seed} epoch {epoch}/{spec.epochs}", file=sys.stderr,
                           mininterval=5, leave=False)  # fmt: skip
        for step in batches:
            index = order[step * spec.batch_size : (step + 1) * spec.batch_size]
            images = data.images[index]
            if data.fill is not None:
                images = images + data.fill[partner[index]]
            with autocast(device, precision):
                loss = heuristic.loss(model, images, data.labels[index], settings, data.num_classes, generator)
            if initial_loss is None:
                initial_loss = float(loss.detach())  # one host sync per run: the reference for divergence
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
        # One check per epoch keeps the GPU loop free of host syncs; the checkpoint of the last
        # finite epoch is left untouched.
        mean_loss = float(loss_sum) / steps_per_epoch
        exploded = max_ratio is not None and math.isfinite(mean_loss) and mean_loss > max_ratio * max(initial_loss, 1e-12)
        if exploded or not math.isfinite(mean_loss) or not all(torch.isfinite(p).all() for p in model.parameters()):
            kept = f"the checkpoint of epoch {epoch - 1} is kept" if epoch > 1 else "no epoch finished"
            why = (
                f"its mean training loss {mean_loss:.4g} is more than training.max_loss_ratio = {max_ratio:g} "
                f"times the first batch's {initial_loss:.4g}"
                if exploded else f"the training loss is {mean_loss} (or a weight is not finite)"
            )  # fmt: skip
            raise TrainingDiverged(
                f"run {run} (seed {seed}) diverged in epoch {epoch}: {why}. Lower the learning rate "
                f"(training.lr or training.lr_by_optimizer.{spec.optimizer}, now {spec.lr}) or check the "
                f"input data; finished runs are kept and {kept}"
            )
        for eval_set in data.eval_sets:
            accuracy, loss = evaluate(model, eval_set.images, eval_set.labels, eval_batch_size, precision)
            rows.append({**static, "epoch": epoch, "split": eval_set.split, "band": eval_set.band,
                         "radius": eval_set.radius, "accuracy": accuracy, "loss": loss,
                         "n": int(eval_set.images.shape[0])})  # fmt: skip
        summary = {(r["split"], r["band"], r["radius"]): r["accuracy"] for r in rows if r["epoch"] == epoch}
        log(f"{run} s{seed} epoch {epoch}: train loss {float(loss_sum) / steps_per_epoch:.4f}, "
            f"train acc {summary[('train', 'original', 0)]:.4f}, test acc {summary[('test', 'original', 0)]:.4f}")  # fmt: skip
        if checkpoint_path:
            atomic_save(
                {"fingerprint": fingerprint, "epoch": epoch, "model": model.state_dict(),
                 "optimizer": optimizer.state_dict(), "rng": _rng_state(generator), "rows": copy.deepcopy(rows),
                 "initial_loss": initial_loss},
                checkpoint_path,
            )  # fmt: skip
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            break
    return model, pd.DataFrame(rows, columns=METRIC_COLUMNS)


def save_model(model: torch.nn.Module, path: str, name: str, build_kwargs: dict) -> None:
    """Save weights plus what :func:`load_model` needs to rebuild the architecture."""
    atomic_save({"name": name, "build_kwargs": build_kwargs, "state_dict": model.state_dict()}, path)


def load_model(path: str, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The model :func:`save_model` wrote, rebuilt and in eval mode (a weights-only load)."""
    advice = "delete it and rerun the workflow to train the model again"
    saved = load_tensors(path, what="model file", advice=advice, map_location=device)
    if not (isinstance(saved, dict) and {"name", "build_kwargs", "state_dict"} <= set(saved)):
        raise UnreadableFileError(f"model file {path} is not a model written by hfc-repro; {advice}")
    model = build_model(saved["name"], **saved["build_kwargs"])
    model.load_state_dict(saved["state_dict"])
    return model.to(device).eval()
