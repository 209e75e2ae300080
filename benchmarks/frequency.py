"""Images/s of hfc.frequency.split against a per-image numpy loop written like the authors'.

Everything is measured in the same run, interleaved round by round (best round kept), each
sample at least --min-seconds long, so a busy shared CPU slows every row alike; the ratio
column is what to compare across machines (absolute timings swing by 2x and more between
runs on shared CPUs).

Both sides use one core by default (numpy's FFT is single-threaded). With --threads 2 on a
busy shared machine, torch can be slower than with one: every parallel step waits for its
slowest thread, often a scheduler time slice for a busy core.

The numpy loop is timed on the first --reference-images images. ``split`` is timed on those
same images and on all --images: a large batch also pays for writing two fresh output
tensors (2 x 25 MB for 2000 CIFAR images), whose first-touch page faults and memory traffic
can cost as much as the transform itself on a virtual machine.

    python benchmarks/frequency.py --size 32 --channels 3 --radius 8 --threads 1
    python benchmarks/frequency.py --size 28 --channels 1 --radius 4 --threads 2
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from hfc import frequency
from hfc.frequency import split, split_many, split_reference_numpy


def best_rates(timed: dict, repeats: int, min_seconds: float, sync=lambda: None) -> dict[str, float]:
    """Images/s of each ``name: (fn, n_images)``: best of ``repeats`` interleaved rounds.

    In a round each function runs back to back for at least ``min_seconds`` (the slow numpy
    loop once), so every sample spans a similar stretch of wall time and sees the same share
    of a busy CPU: timing a 2 ms call against a 500 ms one would let the short call slip
    between other processes' time slices and flatter it.
    """
    calls = {}
    for name, (fn, _) in timed.items():  # warm-up call, also sizes the samples
        start = time.perf_counter()
        fn()
        sync()
        calls[name] = max(1, math.ceil(min_seconds / (time.perf_counter() - start)))
    best = {name: float("inf") for name in timed}
    for _ in range(repeats):
        for name, (fn, _) in timed.items():
            start = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            sync()  # a GPU runs asynchronously: wait for it before reading the clock
            best[name] = min(best[name], (time.perf_counter() - start) / calls[name])
    return {name: n_images / best[name] for name, (_, n_images) in timed.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--reference-images", type=int, default=200, help="images timed for the slow numpy loop")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--radius", type=float, default=8)
    parser.add_argument("--radii", type=float, nargs="+", default=[4, 8, 12, 16], help="radii of the split_many row")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1: the numpy loop uses one core too)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="rounds; the best one counts")
    parser.add_argument("--min-seconds", type=float, default=0.25, help="shortest timed sample")
    parser.add_argument("--chunk-values", type=int, help="CPU chunk size in input values (default: hfc.frequency's)")
    parser.add_argument("--device", default="cpu", help="where split runs: cpu, cuda, cuda:1 (the numpy loop stays on the CPU)")
    args = parser.parse_args()
    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    torch.set_num_threads(args.threads)
    if args.chunk_values:
        frequency.CHUNK_VALUES = frequency.PARALLEL_CHUNK_VALUES = args.chunk_values
    chunk_values = frequency.CHUNK_VALUES if args.threads == 1 else frequency.PARALLEL_CHUNK_VALUES

    images = torch.rand(args.images, args.channels, args.size, args.size, generator=torch.Generator().manual_seed(0))
    reference_images = images[: args.reference_images].double().numpy()
    images = images.to(device)
    subset = images[: args.reference_images]
    n, n_ref = len(images), len(subset)

    # Same answer first: a fast path that is wrong is not a speed-up.
    ref_low, ref_high = split_reference_numpy(reference_images, args.radius)
    for method in ("fft", "matmul") if args.size % 2 == 0 else ("fft",):
        low, high = split(subset.double(), args.radius, method=method)
        low, high = low.cpu().numpy(), high.cpu().numpy()
        assert np.allclose(low, ref_low, atol=1e-10) and np.allclose(high, ref_high, atol=1e-10), method
    auto = "matmul" if frequency._matmul_is_cheaper(images, args.radius) else "fft"

    timed = {
        "numpy": (lambda: split_reference_numpy(reference_images, args.radius), n_ref),
        "auto, same": (lambda: split(subset, args.radius), n_ref),
        "auto": (lambda: split(images, args.radius), n),
        "fft": (lambda: split(images, args.radius, method="fft"), n),
        "many": (lambda: split_many(images, args.radii), n * len(args.radii)),
    }
    if args.size % 2 == 0:
        timed["matmul"] = (lambda: split(images, args.radius, method="matmul"), n)
    rates = best_rates(timed, args.repeats, args.min_seconds, sync)

    print(
        f"{args.channels}x{args.size}x{args.size} float32 images, radius {args.radius:g}, "
        f"{args.threads} torch thread(s), chunks of {chunk_values} values, best of {args.repeats} rounds, "
        f"split on {device}"
    )
    print(f"{'method':<58} {'images':>7} {'images/s':>10} {'vs numpy loop':>14}")
    rows = [
        ("numpy per-image loop (authors' style, float64), 1 radius", "numpy", n_ref),
        (f"split, same images as the numpy loop ({auto})", "auto, same", n_ref),
        (f"split ({auto})", "auto", n),
        ("split, method='fft'", "fft", n),
        ("split, method='matmul'", "matmul", n),
        (f"split_many, radii {' '.join(f'{r:g}' for r in args.radii)} (per radius)", "many", n),
    ]
    for label, key, count in rows:
        if key in rates:
            print(f"{label:<58} {count:>7} {rates[key]:>10.0f} {rates[key] / rates['numpy']:>13.1f}x")


if __name__ == "__main__":
    main()
