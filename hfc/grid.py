"""Expansion of the config's studies into training runs.

Every run is the vanilla set-up of ``config['training']`` with one dimension changed, as in
the paper. A run is named by what differs from vanilla (``vanilla``, ``band-low_r4``,
``labels-shuffled``, ``heuristic-mixup``, ``bs-500``, ``model-lenet``, ``opt-sgd``, or a
combination such as ``heuristic-batchnorm_band-low_r8``), so a run shared by several studies
(the vanilla model above all) has one name and is trained once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

__all__ = [
    "RunSpec", "vanilla_spec", "run_id", "study_runs", "all_runs", "study_radii", "table1_radii",
    "RADIUS_STUDIES", "SWAP_BAND", "STUDIES", "METRIC_COLUMNS",
]  # fmt: skip

# The tidy metrics of every run (hfc.train), one row per run × epoch × split × band × radius;
# here, without torch, for the jobs that only read or collect them.
METRIC_COLUMNS = [
    "run", "dataset", "model", "heuristic", "optimizer", "lr", "batch_size", "train_band",
    "train_radius", "labels", "seed", "epoch", "split", "band", "radius", "accuracy", "loss", "n",
]  # fmt: skip

# Order in which the studies appear in the config, the figures and the report.
STUDIES = (
    "table1",
    "shift_control",
    "figure3",
    "heuristics",
    "batch_size",
    "architecture",
    "optimizer",
    "batchnorm_lfc",
    "adversarial",
)


@dataclass(frozen=True)
class RunSpec:
    """Everything that decides a training run's numbers, apart from data and evaluation."""

    model: str
    heuristic: str
    optimizer: str
    lr: float
    batch_size: int
    train_band: str  # original | low | high | high_swap (x_h(r) of the image + x_l(r) of another)
    train_radius: int  # 0 when train_band is original
    labels: str  # natural | shuffled
    epochs: int

    def as_dict(self) -> dict:
        return asdict(self)


def optimizer_lr(training: dict, optimizer: str) -> float:
    """The learning rate a run with ``optimizer`` uses: per-optimizer table, else ``lr``."""
    if optimizer == training["optimizer"]:
        return float(training["lr"])
    return float(training["lr_by_optimizer"][optimizer])


def vanilla_spec(config: dict) -> RunSpec:
    training = config["training"]
    return RunSpec(
        model=training["model"],
        heuristic="vanilla",
        optimizer=training["optimizer"],
        lr=float(training["lr"]),
        batch_size=int(training["batch_size"]),
        train_band="original",
        train_radius=0,
        labels="natural",
        epochs=int(training["epochs"]),
    )


def run_id(spec: RunSpec, vanilla: RunSpec) -> str:
    """Readable, unique name of ``spec``: the parts in which it differs from ``vanilla``."""
    parts = []
    if spec.model != vanilla.model:
        parts.append(f"model-{spec.model}")
    if spec.heuristic != vanilla.heuristic:
        parts.append(f"heuristic-{spec.heuristic}")
    if spec.optimizer != vanilla.optimizer:
        parts.append(f"opt-{spec.optimizer}")
    if spec.batch_size != vanilla.batch_size:
        parts.append(f"bs-{spec.batch_size}")
    if spec.train_band != vanilla.train_band:
        parts.append(f"band-{spec.train_band}_r{spec.train_radius}")
    if spec.labels != vanilla.labels:
        parts.append(f"labels-{spec.labels}")
    return "_".join(parts) or "vanilla"


# The shift control's training band: x_h(r) of the image plus x_l(r) of another (hfc.train).
SWAP_BAND = "high_swap"
# Studies that train one model per radius; their setting is true (every radius) or a list.
RADIUS_STUDIES = ("table1", "shift_control")


def study_radii(config: dict, study: str) -> list[int]:
    """Radii at which a per-radius study (:data:`RADIUS_STUDIES`) trains its models.

    ``true``: every frequency.radii for Table 1, Table 1's radii for the shift control (it is
    read beside Table 1's HFC(r)-trained models); a list: only those (a subset keeps a check on
    planted data to the radius that matters). ValueError naming ``studies.<study>`` for a list
    that is empty, repeats a radius, holds anything but whole numbers, or names a radius
    missing from frequency.radii (the band images are made only at those radii), and for the
    shift control without Table 1.
    """
    studies = config.get("studies") or {}
    setting = studies.get(study)
    radii = [int(r) for r in config["frequency"]["radii"]]
    if setting is None or setting is False:
        return []
    if study == "shift_control" and not studies.get("table1"):
        raise ValueError(
            "studies.shift_control is on but studies.table1 is off: the control is read beside Table 1's "
            "HFC(r)-trained models (results/tables/table1.csv); turn on studies.table1 or turn the control off"
        )
    if setting is True:
        return radii if study == "table1" else study_radii(config, "table1")
    if not isinstance(setting, list) or not setting:
        raise ValueError(
            f"studies.{study}: {setting!r} is neither true/false nor a non-empty list of radii "
            f"from frequency.radii {radii}"
        )
    # bool is an int in Python, and 4.0 (an integer to the schema) would name a run band-high_r4.0.
    odd = [r for r in setting if isinstance(r, bool) or not isinstance(r, int)]
    if odd:
        raise ValueError(
            f"studies.{study}: {odd} not integer radii (write 4, not 4.0 or true); list radii from frequency.radii {radii}"
        )
    repeated = sorted({r for r in setting if setting.count(r) > 1})
    if repeated:
        raise ValueError(f"studies.{study}: radius {repeated} listed twice; list each radius once")
    missing = [r for r in setting if r not in radii]
    if missing:
        raise ValueError(
            f"studies.{study}: radius {missing} not in frequency.radii {radii}; add it there (the band "
            "images are made only at those radii) or list radii from it"
        )
    return list(setting)


def table1_radii(config: dict) -> list[int]:
    """Radii of Table 1's band-trained runs (:func:`study_radii` of ``table1``)."""
    return study_radii(config, "table1")


def _variants(config: dict, study: str) -> list[tuple[str, RunSpec]]:
    """(variant label, spec) pairs of one study, in the config's order."""
    base = vanilla_spec(config)
    training = config["training"]
    radii = [int(r) for r in config["frequency"]["radii"]]
    setting = config.get("studies", {}).get(study)
    if not setting:
        return []
    if study == "table1":
        return [
            (f"{band} r={r}", replace(base, train_band=band, train_radius=r))
            for band in ("low", "high")
            for r in table1_radii(config)
        ]
    if study == "shift_control":
        # Issue 17: HFC(r) of the image plus LFC(r) of another training image, redrawn every
        # epoch (hfc.train). The label sits only in the HFC, as for Table 1's HFC(r) model, but
        # the inputs are whole natural images, so testing on the originals is no distribution
        # shift: what the model keeps there is HFC information that transfers.
        return [
            (f"high r={r}", replace(base, train_band=SWAP_BAND, train_radius=r)) for r in study_radii(config, study)
        ]
    if study == "figure3":
        return [
            ("natural", base),
            ("shuffled", replace(base, labels="shuffled", epochs=int(training["shuffled_epochs"]))),
        ]
    if study == "heuristics":
        return [(h, replace(base, heuristic=h)) for h in setting]
    if study == "batch_size":
        return [(f"batch {b}", replace(base, batch_size=int(b))) for b in setting]
    if study == "architecture":
        return [(m, replace(base, model=m)) for m in setting]
    if study == "optimizer":
        return [(o, replace(base, optimizer=o, lr=optimizer_lr(training, o))) for o in setting]
    if study == "batchnorm_lfc":
        return [
            (f"{h} r={r}", replace(base, heuristic=h, train_band="low", train_radius=r))
            for r in radii
            for h in ("vanilla", "batchnorm")
        ]
    if study == "adversarial":
        return [("natural", base), ("adversarial", replace(base, heuristic="adversarial"))]
    raise ValueError(f"unknown study {study!r}; known studies: {', '.join(STUDIES)}")


def study_runs(config: dict, study: str) -> dict[str, str]:
    """``{variant label: run id}`` of one study (empty when the study is off)."""
    vanilla = vanilla_spec(config)
    return {label: run_id(spec, vanilla) for label, spec in _variants(config, study)}


def all_runs(config: dict) -> dict[str, RunSpec]:
    """``{run id: spec}`` over every enabled study, each shared run once."""
    vanilla = vanilla_spec(config)
    runs: dict[str, RunSpec] = {}
    for study in STUDIES:
        for _, spec in _variants(config, study):
            name = run_id(spec, vanilla)
            if name in runs and runs[name] != spec:
                # Two different specs with one name would silently share results.
                raise ValueError(f"run name {name!r} stands for two settings: {runs[name]} and {spec}")
            runs[name] = spec
    return runs
