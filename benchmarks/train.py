"""Images/s of hfc.train's fast path against a plain DataLoader loop, training and evaluation.

Fast path (what every training job runs): the whole dataset as one tensor on the device,
batches sliced from a seeded permutation (``hfc.train.train_run``), evaluation batched over
on-device tensors (``hfc.train.evaluate``). Plain loop: ``TensorDataset`` + ``DataLoader(
shuffle=True, num_workers=0)`` over CPU tensors with a ``.to(device)`` per batch, as most
training scripts are written. Both use the same model, initial weights, optimizer, data,
precision and memory format, and accumulate losses on the device alike, so the ratio measures
the data path alone. Both are measured in the same run; on shared machines compare the
ratios, since absolute rates swing by tens of percent between identical runs. Against that
noise the two alternate (``--rounds`` of fast then plain training, evaluation passes
interleaved): a rate comes from the median epoch or pass, and the speed-up is the median over
adjacent fast/plain pairs, which cancels the slow drift of a shared machine's load. The first
epoch of every round is a warm-up (model build, allocator, kernel selection), not timed. On a CPU
shared with other work, ``--clock process`` counts only the CPU time this process got (use it
with ``--threads 1``; threads that spin would count too).
The last line extrapolates the measured rates to the whole paper config (``paper_gpu_hours``).

    python benchmarks/train.py                                   # CPU-sized: under a minute on 2 cores
    python benchmarks/train.py --model resnet18 --width 1 --channels 3 --size 32 \\
        --images 10000 --batch-size 100 --precision bf16 --channels-last    # the paper's model, on a GPU
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from hfc import train
from hfc.config import load_config
from hfc.grid import RunSpec, all_runs
from hfc.models import MODELS, build_model, parameter_count
from hfc.seeding import resolve_device, seed_everything

PAPER_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "paper.yaml"
# Train/test images of the full datasets (the paper config's dataset sizes are null = all).
FULL_SIZES = {"cifar10": (50000, 10000), "mnist": (60000, 10000), "fashion_mnist": (60000, 10000)}
NUM_CLASSES = 10


def paper_gpu_hours(train_rate: float, eval_rate: float, config_path: str | Path = PAPER_CONFIG) -> float:
    """Hours that every training run of ``config_path`` takes at the given images/s.

    Per run and seed: ``epochs`` passes over the training set at ``train_rate`` (an adversarial
    run costs ``steps + 1`` forward/backward passes per image: PGD's steps plus the update), and
    after each epoch one evaluation of the original, LFC and HFC sets at every radius
    (``1 + 2 * len(radii)`` sets) of the evaluated train and test images at ``eval_rate``.
    Every run is charged the measured model's cost per image, so measure with the config's
    model (resnet18 for the paper). Attack jobs (Table 2, Figures 2 and 7) are not included.
    """
    if not (train_rate > 0 and eval_rate > 0):
        raise ValueError(f"rates must be positive images/s, got train {train_rate}, evaluation {eval_rate}")
    config = load_config(config_path)
    dataset = config["dataset"]
    if dataset["name"] not in FULL_SIZES:
        raise ValueError(
            f"{config_path}: dataset {dataset['name']!r} has no known size; known: {', '.join(FULL_SIZES)}"
        )
    full_train, full_test = FULL_SIZES[dataset["name"]]
    n_train = dataset.get("train_size") or full_train
    n_test = dataset.get("test_size") or full_test
    evaluation = config.get("evaluation", {})
    eval_images = (evaluation.get("train_size") or n_train) + (evaluation.get("test_size") or n_test)
    eval_sets = 1 + 2 * len(config["frequency"]["radii"])
    steps = int(config["training"].get("adversarial", {}).get("steps", 10))
    seconds = 0.0
    for spec in all_runs(config).values():
        passes = steps + 1 if spec.heuristic == "adversarial" else 1
        seconds += spec.epochs * (n_train * passes / train_rate + eval_sets * eval_images / eval_rate)
    return seconds * len(config["seeds"]) / 3600


# ----------------------------------------------------------------------------- measurement


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_epochs(epoch_seconds: list[float]) -> list[float]:
    """The epochs after the first (warm-up); the only epoch when there is one."""
    return epoch_seconds[1:] or epoch_seconds


def paired_rates(fast: list[list[float]], plain: list[list[float]], n_images: int) -> tuple[float, float, float]:
    """(fast images/s, plain images/s, speed-up) from ``n_images``-image timings, grouped by round.

    Rates come from the median over all timings; the speed-up is the median over rounds of
    plain/fast median time, each pair measured back to back.
    """
    rates = [n_images / statistics.median([t for group in timings for t in group]) for timings in (fast, plain)]
    speedup = statistics.median(statistics.median(p) / statistics.median(f) for f, p in zip(fast, plain))
    return rates[0], rates[1], speedup


def fast_train(
    spec: RunSpec, data: train.TrainingData, settings: dict, seed: int, clock=time.perf_counter
) -> tuple[torch.nn.Module, list[float]]:
    """``hfc.train.train_run`` itself; its per-epoch log line marks the epoch boundaries."""
    device = data.images.device
    marks = [clock()]

    def log(message: str) -> None:
        synchronize(device)
        marks.append(clock())

    model, _ = train.train_run("benchmark", spec, data, seed, settings, log=log, progress=False)
    return model, [b - a for a, b in zip(marks, marks[1:])]


def plain_train(
    spec: RunSpec,
    data: train.TrainingData,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: dict,
    seed: int,
    clock=time.perf_counter,
) -> tuple[torch.nn.Module, list[float]]:
    """The same run as a DataLoader loop over CPU tensors (``images``, ``labels``)."""
    device = data.images.device
    precision = settings["precision"]
    memory_format = torch.channels_last if settings["channels_last"] else torch.contiguous_format
    generator = seed_everything(seed)  # same initial weights as train_run
    model = build_model(spec.model, **train.model_build_kwargs(spec, data, settings)).to(device)
    model = model.to(memory_format=memory_format)
    optimizer = train.build_optimizer(spec.optimizer, model.parameters(), spec.lr)
    loader = DataLoader(
        TensorDataset(images, labels), batch_size=spec.batch_size, shuffle=True, generator=generator, num_workers=0
    )
    epoch_seconds = []
    for _ in range(spec.epochs):
        start = clock()
        model.train()
        loss_sum = torch.zeros((), device=device)
        for x, y in loader:
            x, y = x.to(device, memory_format=memory_format), y.to(device)
            with train.autocast(device, precision):
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
        if not torch.isfinite(loss_sum):  # the one host sync per epoch, as train_run has
            raise train.TrainingDiverged("the plain loop diverged; lower --lr")
        synchronize(device)
        epoch_seconds.append(clock() - start)
    return model, epoch_seconds


@torch.no_grad()
def plain_evaluate(model: torch.nn.Module, loader: DataLoader, device: torch.device, precision: str,
                   memory_format: torch.memory_format) -> tuple[float, float]:  # fmt: skip
    model.eval()
    correct = torch.zeros((), device=device)
    loss_sum = torch.zeros((), device=device)
    n = 0
    for x, y in loader:
        x, y = x.to(device, memory_format=memory_format), y.to(device)
        with train.autocast(device, precision):
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(dim=1) == y).sum()
        n += y.shape[0]
    return float(correct) / n, float(loss_sum) / n


def timed_call(fn, device: torch.device, clock=time.perf_counter):
    """(seconds, result) of one call of ``fn``."""
    synchronize(device)
    start = clock()
    out = fn()
    synchronize(device)
    return clock() - start, out


def device_name(device: torch.device, threads: int) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({platform.processor() or platform.machine()}, {threads} thread(s))"


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="small_cnn", choices=sorted(MODELS))
    parser.add_argument("--width", type=float, default=0.5, help="channel-width multiplier (hfc.models)")
    parser.add_argument("--images", type=int, default=2000, help="synthetic training images")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--eval-batch-size", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=3, help="per round; the first one is an untimed warm-up")
    parser.add_argument("--rounds", type=int, default=4, help="alternating fast/plain trainings")
    parser.add_argument("--eval-repeats", type=int, default=5, help="alternating fast/plain evaluation passes")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1, ...")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1, as the workflow's jobs: config threads)"
    )
    parser.add_argument(
        "--clock", default="wall", choices=["wall", "process"], help="process: CPU time of this process (CPU only)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paper-config", default=str(PAPER_CONFIG), help="config extrapolated to")
    args = parser.parse_args()
    if args.images < args.batch_size:
        parser.error(f"--images ({args.images}) must be at least --batch-size ({args.batch_size})")
    if min(args.epochs, args.rounds, args.eval_repeats, args.threads, args.batch_size, args.eval_batch_size) < 1:
        parser.error("--epochs, --rounds, --eval-repeats, --threads and the batch sizes must be at least 1")
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.clock == "process" and device.type != "cpu":
        parser.error("--clock process measures CPU time: use it with --device cpu")
    clock = time.process_time if args.clock == "process" else time.perf_counter

    g = torch.Generator().manual_seed(args.seed)
    images = torch.rand(args.images, args.channels, args.size, args.size, generator=g)
    labels = torch.randint(0, NUM_CLASSES, (args.images,), generator=g)
    on_device = images.to(device), labels.to(device)
    # train_run evaluates after every epoch; one image per split keeps that out of the timing.
    eval_sets = [train.EvalSet(split, "original", 0, on_device[0][:1], on_device[1][:1]) for split in ("train", "test")]
    data = train.TrainingData("synthetic", *on_device, NUM_CLASSES, args.channels, args.size,
                              [0.5] * args.channels, [0.25] * args.channels, eval_sets)  # fmt: skip
    spec = RunSpec(model=args.model, heuristic="vanilla", optimizer="adam", lr=args.lr, batch_size=args.batch_size,
                   train_band="original", train_radius=0, labels="natural", epochs=args.epochs)  # fmt: skip
    settings = {"width_by_model": {args.model: args.width}, "precision": args.precision,
                "channels_last": args.channels_last}  # fmt: skip

    fast_epochs, plain_epochs = [], []
    for _ in range(args.rounds):
        fast_model, seconds = fast_train(spec, data, settings, args.seed, clock)
        fast_epochs.append(timed_epochs(seconds))
        plain_model, seconds = plain_train(spec, data, images, labels, settings, args.seed, clock)
        plain_epochs.append(timed_epochs(seconds))
    training = paired_rates(fast_epochs, plain_epochs, args.images)

    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    eval_images = on_device[0].contiguous(memory_format=memory_format)
    loader = DataLoader(TensorDataset(images, labels), batch_size=args.eval_batch_size, shuffle=False, num_workers=0)

    def fast_eval():
        return train.evaluate(fast_model, eval_images, on_device[1], args.eval_batch_size, args.precision)

    def plain_eval():
        return plain_evaluate(fast_model, loader, device, args.precision, memory_format)

    fast_eval(), plain_eval()  # warm-up
    fast_seconds, plain_seconds = [], []
    for _ in range(args.eval_repeats):
        seconds, fast_result = timed_call(fast_eval, device, clock)
        fast_seconds.append([seconds])
        seconds, plain_result = timed_call(plain_eval, device, clock)
        plain_seconds.append([seconds])
    evaluation = paired_rates(fast_seconds, plain_seconds, args.images)
    # Same answer first: a fast path that is wrong is not a speed-up.
    if abs(fast_result[0] - plain_result[0]) > 1e-9 or not math.isclose(fast_result[1], plain_result[1], rel_tol=1e-4):
        raise AssertionError(f"fast and plain evaluation disagree: {fast_result} vs {plain_result}")
    plain_model_result = train.evaluate(plain_model, eval_images, on_device[1], args.eval_batch_size, args.precision)

    name = device_name(device, args.threads)
    params = parameter_count(fast_model)
    print(f"{args.model} width {args.width} ({params / 1e6:.2f} M parameters), {args.images} images "
          f"{args.channels}x{args.size}x{args.size}, batch {args.batch_size} (evaluation {args.eval_batch_size}), "
          f"{args.rounds}x{args.epochs} epochs (first of each untimed), {args.precision}"
          f"{', channels_last' if args.channels_last else ''}, on {name}, {args.clock} clock")  # fmt: skip
    print(f"{'images/s':<12} {'fast path':>12} {'DataLoader':>12} {'speed-up':>9}")
    for what, (fast, plain, speedup) in (("training", training), ("evaluation", evaluation)):
        print(f"{what:<12} {fast:>12.0f} {plain:>12.0f} {speedup:>8.2f}x")
    print(f"after training: fast-path model accuracy {fast_result[0]:.4f} loss {fast_result[1]:.4f}, "
          f"DataLoader model accuracy {plain_model_result[0]:.4f} loss {plain_model_result[1]:.4f} "
          f"(same start, different batch order after epoch 1)")  # fmt: skip

    config = Path(args.paper_config)
    hours = paper_gpu_hours(training[0], evaluation[0], config)
    runs = all_runs(load_config(config))
    print(f"{config.name}: {len(runs)} runs; at the fast-path rates measured on {name} its training jobs "
          f"take about {hours:,.1f} {'GPU-' if device.type == 'cuda' else ''}hours "
          f"(every run charged {args.model} width {args.width}'s cost per image)")  # fmt: skip


if __name__ == "__main__":
    main()
