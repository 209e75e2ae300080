"""Models the workflow did not train: your own checkpoints and torchvision classifiers.

A config entry of ``external_models`` (schema: ``hfc/config_schema.yaml``) names a model, how to
build it and where its weights are; :func:`parse_external_models` turns the list into
:class:`ExternalModel` specs and checks each one at parse time, before any job runs:

- the weights file exists, and is either a **state_dict** (``.pt`` / ``.pth``, read with
  ``torch.load(weights_only=True)``, which builds only tensors and plain containers: a file
  whose pickle would call anything else, e.g. through ``__reduce__``, is refused and nothing
  in it runs) or a **TorchScript** archive (``torch.jit.load``: it runs the model's own
  TorchScript graph, compiled code in TorchScript's restricted language, and reads its data
  with TorchScript's own unpickler, never arbitrary Python objects);
- the weights fit the architecture (``load_state_dict(strict=True)``: missing and unexpected
  keys, and shape mismatches, are named);
- no weight or buffer is NaN or infinite;
- a forward pass on a small batch of different inputs of ``input_size`` (black, white, grey, a
  gradient, noise) works, gives one row per input with as many outputs as the model should have
  (``num_classes``), all finite, and not the same row for every input (a model that ignores its
  input would report chance accuracy in every analysis);
- the class mapping fits the dataset's classes and the model's outputs, and gives every dataset
  class its own output (``class_map_allow_duplicates: true`` accepts a shared one);
- the name is a plain folder name (not ``.`` or ``..``), since results go to
  ``results/external/<name>/``;
- the ``attacks`` analysis, which smooths the first ``nn.Conv2d``, is asked only of a model
  that has one (never of a TorchScript archive, whose layers are compiled);
- the dataset's image shape matches ``input_size`` where the shape is known before loading the
  data (the project's datasets; ImageFolder with ``image_size``); otherwise
  :func:`check_images` checks it in the model's first job, before anything is evaluated.

Every error starts with ``external_models[i] (name '...')``. :func:`load_external` gives the
model ready for the analyses: ``Normalize(mean, std)`` in front (inputs are images in [0, 1],
as for the workflow's own models) and, with ``class_map``, only the logits of the dataset's
classes, in the dataset's order, so argmax is a dataset class index.
"""

from __future__ import annotations

import re
import zipfile
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from hfc.files import UnreadableFileError, load_tensors, not_a_file
from hfc.models import MODELS, Normalize, build_model, first_conv

__all__ = [
    "ANALYSES",
    "TORCHVISION_PREFIX",
    "ExternalModel",
    "ExternalModelError",
    "ClassSelect",
    "parse_external_models",
    "load_weights",
    "load_external",
    "check_images",
]

ANALYSES = ("frequency_response", "figure2_count", "attacks", "fourier_heatmap")
TORCHVISION_PREFIX = "torchvision:"
_DATASET_CLASSES = {"fashion_mnist": 10, "mnist": 10, "cifar10": 10}
# A plain folder name under results/external/ (the schema's pattern, and not "." or "..").
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
PROBE_BATCH = 8


class ExternalModelError(ValueError):
    """An ``external_models`` entry is unusable; the message names the entry."""


@dataclass(frozen=True)
class ExternalModel:
    index: int
    name: str
    architecture: str  # a hfc.models name, "torchvision:<name>", or "torchscript"
    weights: str
    input_size: tuple[int, int, int]  # C, H, W
    num_classes: int  # outputs of the model itself
    mean: tuple[float, ...]
    std: tuple[float, ...]
    dataset: dict  # name, root, image_size, download, test_size, seed; default: the workflow's
    class_map: tuple[int, ...] | None
    analyses: tuple[str, ...]
    build: dict = field(default_factory=dict)  # project models: width, batchnorm

    @property
    def where(self) -> str:
        return f"external_models[{self.index}] (name {self.name!r})"

    @property
    def own_dataset(self) -> bool:
        """Whether the model is evaluated on another dataset than the workflow's."""
        return bool(self.dataset.get("separate"))

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


class ClassSelect(nn.Module):
    """Keep the logits of ``index`` in that order: dataset class k is model output ``index[k]``."""

    def __init__(self, index: Sequence[int]) -> None:
        super().__init__()
        self.register_buffer("index", torch.as_tensor(list(index), dtype=torch.long))

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.index_select(1, self.index)


def _error(where: str, message: str) -> ExternalModelError:
    return ExternalModelError(f"{where}: {message}")


def is_torchscript(path: str | Path) -> bool:
    """A TorchScript archive is a zip holding a ``code/`` folder; torch.save files have none."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_weights(path: str | Path, where: str = "weights") -> dict:
    """A state_dict from ``path``, read with ``torch.load(weights_only=True)``.

    Also accepted: a dict holding it under ``state_dict`` or ``model`` (the workflow's own
    ``model.pt``, common checkpoint layouts). A file that is not plain tensors (a pickled
    model, or a pickle that would run code) is refused with the file named.
    """
    path = Path(path)
    advice = (
        "save the weights with torch.save(model.state_dict(), path), or a TorchScript archive with "
        "torch.jit.save(torch.jit.script(model), path) and set architecture: torchscript"
    )
    try:
        state = load_tensors(path, what="weights file", advice=advice)
    except UnreadableFileError as error:
        raise _error(where, f"{error} (read with torch.load(weights_only=True))") from None
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
            break
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise _error(where, f"weights file {path} holds a {type(state).__name__}, not a state_dict of tensors")
    return dict(state)


def _strip(state: dict, prefix: str) -> dict:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _body(spec: ExternalModel) -> nn.Module:
    c, h, w = spec.input_size
    if spec.architecture.startswith(TORCHVISION_PREFIX):
        import torchvision  # lazily: seconds at import

        name = spec.architecture[len(TORCHVISION_PREFIX) :]
        try:
            return torchvision.models.get_model(name, weights=None, num_classes=spec.num_classes)
        except Exception as error:  # noqa: BLE001 - unknown name, bad kwargs
            raise _error(spec.where, f"cannot build torchvision model {name!r}: {error}") from None
    if spec.architecture not in MODELS:
        raise _error(
            spec.where,
            f"unknown architecture {spec.architecture!r}; use one of {', '.join(sorted(MODELS))}, "
            f"'{TORCHVISION_PREFIX}<name>' (a torchvision classification model) or 'torchscript'",
        )
    if h != w:
        raise _error(spec.where, f"project architectures take square images; input_size is {list(spec.input_size)}")
    try:
        return build_model(spec.architecture, c, spec.num_classes, h, 0.0, 1.0, **spec.build)[1]
    except ValueError as error:
        raise _error(spec.where, str(error)) from None


def load_external(spec: ExternalModel, device: torch.device | str = "cpu") -> nn.Module:
    """The model of ``spec`` in eval mode: Normalize → body (→ ClassSelect), weights loaded."""
    path = Path(spec.weights)
    problem = not_a_file(path)
    if problem == "does not exist":
        raise _error(spec.where, f"weights file {path} is missing (paths are read from the working directory)")
    if problem is not None:
        raise _error(spec.where, f"weights {path} {problem} (the .pt/.pth state_dict or TorchScript archive)")
    if spec.architecture == "torchscript":
        if not is_torchscript(path):
            raise _error(spec.where, f"weights file {path} is not a TorchScript archive (torch.jit.save)")
        try:
            body = torch.jit.load(str(path), map_location="cpu")
        except Exception as error:  # noqa: BLE001
            raise _error(spec.where, f"cannot load TorchScript archive {path}: {error}") from None
    else:
        if is_torchscript(path):
            raise _error(
                spec.where,
                f"weights file {path} is a TorchScript archive; set architecture: torchscript to use it",
            )
        state = load_weights(path, spec.where)
        if any(k.startswith("net.") for k in state) and any(k.startswith("normalize.") for k in state):
            state = _strip(state, "net.")  # a whole hfc model: normalisation comes from the config
        body = _body(spec)
        try:
            body.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise _error(
                spec.where,
                f"weights file {path} does not fit architecture {spec.architecture!r}: {_short(error)}",
            ) from None
    _check_finite_weights(spec, body, path)
    layers: OrderedDict[str, nn.Module] = OrderedDict(normalize=Normalize(list(spec.mean), list(spec.std)), net=body)
    if spec.class_map is not None:
        layers["select"] = ClassSelect(spec.class_map)
    return nn.Sequential(layers).to(device).eval()


def _short(error: Exception, limit: int = 900) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[:limit] + " ..."


def _check_finite_weights(spec: ExternalModel, body: nn.Module, path: Path) -> None:
    tensors = [*body.named_parameters(), *body.named_buffers()]
    bad = [name for name, t in tensors if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        shown = ", ".join(bad[:5]) + (f", ... ({len(bad)} tensors)" if len(bad) > 5 else "")
        raise _error(
            spec.where,
            f"weights file {path} holds NaN or infinite values in {shown}: the model's outputs would be NaN and "
            "every analysis would report chance accuracy; training diverged or the file is damaged: use "
            "another checkpoint",
        )


def probe_inputs(input_size: Sequence[int], n: int = PROBE_BATCH) -> torch.Tensor:
    """``n`` (>= 5) different images in [0, 1]: black, white, grey, a horizontal gradient, noise."""
    c, h, w = input_size
    noise = torch.rand((n - 4, c, h, w), generator=torch.Generator().manual_seed(0))
    ramp = torch.linspace(0, 1, w).expand(1, c, h, w)
    return torch.cat([torch.zeros(1, c, h, w), torch.ones(1, c, h, w), torch.full((1, c, h, w), 0.5), ramp, noise])


def _probe(spec: ExternalModel, model: nn.Module) -> None:
    """Refuse a model whose outputs on a small batch of different inputs are unusable."""
    inputs = probe_inputs(spec.input_size)
    n = len(inputs)
    what = f"a batch of {n} different inputs (black, white, grey, a gradient, noise) of input_size {list(spec.input_size)}"
    try:
        with torch.no_grad():
            out = model(inputs)
    except Exception as error:  # noqa: BLE001 - shape errors come as RuntimeError, ValueError ...
        raise _error(
            spec.where,
            f"a forward pass on {what} fails ({type(error).__name__}: "
            f"{_short(error, 400)}); check input_size against what the architecture takes",
        ) from None
    expected = len(spec.class_map) if spec.class_map is not None else spec.num_classes
    if not isinstance(out, torch.Tensor) or not out.is_floating_point():
        kind = f"a {out.dtype} tensor" if isinstance(out, torch.Tensor) else f"a {type(out).__name__}"
        raise _error(spec.where, f"the model returns {kind} for {what}; it must return a float tensor of logits")
    if out.ndim != 2 or out.shape[0] != n:
        raise _error(
            spec.where,
            f"the model gives output {tuple(out.shape)} for {what}: it must give one row of logits per input, "
            f"({n}, {expected}); a model that reduces or indexes over the batch would be scored on the wrong images",
        )
    if out.shape[1] != expected:
        raise _error(
            spec.where,
            f"the model gives output {tuple(out.shape)} for {n} inputs, expected ({n}, {expected}): set num_classes "
            "to the model's number of outputs (and class_map when it differs from the dataset's classes)",
        )
    finite = torch.isfinite(out).all(dim=1)
    if not bool(finite.all()):
        raise _error(
            spec.where,
            f"the model's outputs are NaN or infinite for {int((~finite).sum())} of {what}: every analysis would "
            "report chance accuracy; check the weights, mean and std (a std of 0?) and the architecture",
        )
    spread = float((out - out[:1]).abs().amax())
    if spread <= 1e-6 * max(1.0, float(out.abs().amax())):
        raise _error(
            spec.where,
            f"the model gives the same output for all of {what}: it ignores its input, so every analysis "
            "would report one class for every image (chance accuracy); check the weights (all zero, or saved "
            "before training?)",
        )


def check_smoothable(spec: ExternalModel, model: nn.Module | None = None) -> None:
    """Refuse analysis ``attacks`` for a model whose first nn.Conv2d cannot be smoothed."""
    if "attacks" not in spec.analyses:
        return
    others = [a for a in spec.analyses if a != "attacks"]
    fix = f"remove 'attacks' from analyses (analyses: [{', '.join(others)}])" if others else "remove 'attacks'"
    if spec.architecture == "torchscript":
        raise _error(
            spec.where,
            "analysis 'attacks' (the kernel-smoothing × attack table, paper §6.3) smooths the kernels of the "
            "model's first nn.Conv2d, but a TorchScript archive is compiled: its layers are not nn.Conv2d "
            f"modules whose weights can be changed. Either {fix}, or give the weights as a state_dict with "
            f"the architecture that built them (a project model or '{TORCHVISION_PREFIX}<name>')",
        )
    if model is not None:
        try:
            first_conv(model)
        except ValueError:
            raise _error(
                spec.where,
                f"analysis 'attacks' (the kernel-smoothing × attack table, paper §6.3) smooths the kernels of "
                f"the model's first nn.Conv2d, but architecture {spec.architecture!r} has none: {fix}",
            ) from None


def _dataset_classes(dataset: Mapping) -> int | None:
    name = dataset["name"]
    if name in _DATASET_CLASSES:
        return _DATASET_CLASSES[name]
    root = dataset.get("root")
    if root and (Path(root).expanduser() / "train").is_dir():
        return sum(1 for p in (Path(root).expanduser() / "train").iterdir() if p.is_dir())
    return None


def parse_external_models(config: Mapping, *, load: bool = True) -> list[ExternalModel]:
    """Specs of ``config["external_models"]``, each checked (see the module docstring).

    ``load=False`` skips reading the weights and the forward pass (the checks that need the
    files); names, shapes, classes and the dataset are still checked.
    """
    from hfc.data import image_shape

    entries = config.get("external_models") or []
    specs: list[ExternalModel] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        name = entry.get("name")
        where = f"external_models[{i}] (name {name!r})"
        if name in seen:
            raise _error(where, f"the name is already used by external_models[{seen[name]}]; names must be unique")
        seen[name] = i
        if not isinstance(name, str) or not _NAME.fullmatch(name) or set(name) == {"."}:
            raise _error(
                where,
                "name must be a plain folder name (results go to results/external/<name>/): letters, digits, "
                "'_', '-' and '.', and not only dots ('.' and '..' would write outside that folder)",
            )
        channels, height, width = (int(v) for v in entry["input_size"])
        mean = tuple(float(v) for v in entry["mean"])
        std = tuple(float(v) for v in entry["std"])
        for what, values in (("mean", mean), ("std", std)):
            if len(values) not in (1, channels):
                raise _error(where, f"{what} has {len(values)} values for {channels} input channel(s)")
        if any(s <= 0 for s in std):
            raise _error(where, f"std must be positive, got {list(std)}")
        workflow = config["dataset"]
        given = entry.get("dataset")
        dataset = {
            "name": (given or workflow)["name"],
            "root": (given or workflow).get("root"),
            "image_size": (given or workflow).get("image_size"),
            "download": (given or workflow).get("download", True),
            "test_size": entry.get("test_size", 500),
            "seed": entry.get("seed", 0),
            "separate": given is not None,
        }
        try:
            shape = image_shape(dataset["name"], dataset["image_size"])
        except ValueError as error:
            raise _error(where, f"dataset: {error}") from None
        if shape is not None:
            data_c, data_h, data_w = shape
            if (data_h, data_w) != (height, width) or (data_c is not None and data_c != channels):
                found = f"{data_c if data_c is not None else '?'}×{data_h}×{data_w}"
                raise _error(
                    where,
                    f"input_size {[channels, height, width]} does not match the images of dataset "
                    f"{dataset['name']!r} ({found}); evaluate on a dataset of that size (an imagefolder "
                    "with image_size) or fix input_size",
                )
        classes = _dataset_classes(dataset)
        if classes is not None and classes < 2:
            raise _error(
                where,
                f"dataset {dataset['name']!r} at {dataset['root']} has {classes} class folder(s) in train/: a "
                "classifier needs at least two classes (with one, every prediction is right and the accuracy "
                "is 1.0); add a folder per class",
            )
        class_map = entry.get("class_map")
        num_classes = entry.get("num_classes")
        if num_classes is None:
            if class_map is not None or classes is None:
                raise _error(where, "set num_classes (the model's number of outputs)")
            num_classes = classes
        num_classes = int(num_classes)
        if class_map is not None:
            class_map = tuple(int(k) for k in class_map)
            if classes is not None and len(class_map) != classes:
                raise _error(
                    where,
                    f"class_map has {len(class_map)} entries but dataset {dataset['name']!r} has {classes} classes; "
                    "give one model output index per dataset class",
                )
            bad = [k for k in class_map if not 0 <= k < num_classes]
            if bad:
                raise _error(where, f"class_map entries {bad} are not outputs of a model with num_classes {num_classes}")
            shared = {k: [c for c, v in enumerate(class_map) if v == k] for k in class_map if class_map.count(k) > 1}
            if shared and not entry.get("class_map_allow_duplicates", False):
                listed = "; ".join(f"dataset classes {c} -> output {k}" for k, c in shared.items())
                raise _error(
                    where,
                    f"class_map gives two or more dataset classes the same model output ({listed}): argmax can "
                    "only ever pick the first of them, so the others are never predicted and their images always "
                    "count as wrong. Give each dataset class its own output, or set "
                    "class_map_allow_duplicates: true if that is what you mean",
                )
        elif classes is not None and num_classes != classes:
            raise _error(
                where,
                f"the model has {num_classes} outputs (num_classes) but dataset {dataset['name']!r} has {classes} "
                "classes; give class_map (dataset class index -> model output index) or another dataset",
            )
        build = {k: entry[k] for k in ("width", "batchnorm") if k in entry}
        if build and (entry["architecture"] == "torchscript" or entry["architecture"].startswith(TORCHVISION_PREFIX)):
            raise _error(where, f"{', '.join(build)} apply only to the project's architectures")
        spec = ExternalModel(
            index=i,
            name=name,
            architecture=entry["architecture"],
            weights=str(entry["weights"]),
            input_size=(channels, height, width),
            num_classes=num_classes,
            mean=mean,
            std=std,
            dataset=dataset,
            class_map=class_map,
            analyses=tuple(entry.get("analyses", ANALYSES)),
            build=build,
        )
        check_smoothable(spec)
        if load:
            model = load_external(spec)
            check_smoothable(spec, model)
            _probe(spec, model)
        specs.append(spec)
    return specs


def check_images(spec: ExternalModel, images: torch.Tensor, classes: Sequence[str]) -> None:
    """The job-time checks the parse could not make (an ImageFolder without image_size)."""
    c, h, w = spec.input_size
    if tuple(images.shape[1:]) != (c, h, w):
        raise _error(
            spec.where,
            f"input_size {[c, h, w]} does not match the dataset's images {list(images.shape[1:])}; "
            "set the dataset's image_size or fix input_size",
        )
    expected = len(spec.class_map) if spec.class_map is not None else spec.num_classes
    if len(classes) != expected:
        raise _error(
            spec.where,
            f"the dataset has {len(classes)} classes but the model gives {expected} (num_classes / class_map)",
        )
