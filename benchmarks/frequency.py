"""Images/s of hfc.frequency.split against a per-image numpy loop written like the authors'.

Both are measured in the same run on the same images; the table's ratio is what to compare
across machines (absolute timings swing ±20-30 % between identical runs on shared CPUs).

    python benchmarks/frequency.py --images 2000 --size 32 --channels 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from hfc.frequency import split, split_many, split_reference_numpy


def images_per_second(fn, n_images: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n_images / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--reference-images", type=int, default=200, help="images timed for the slow numpy loop")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--radius", type=float, default=8)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    images = torch.rand(args.images, args.channels, args.size, args.size, generator=torch.Generator().manual_seed(0))
    reference_images = images[: args.reference_images].double().numpy()
    radii = [4, 8, 12, 16]

    # Same answer first: a fast path that is wrong is not a speed-up.
    low, _ = split(images[: args.reference_images].double(), args.radius)
    ref_low, _ = split_reference_numpy(reference_images, args.radius)
    assert np.allclose(low.numpy(), ref_low, atol=1e-10)

    numpy_rate = images_per_second(lambda: split_reference_numpy(reference_images, args.radius), len(reference_images), 1)
    torch_rate = images_per_second(lambda: split(images, args.radius), args.images, args.repeats)
    many_rate = images_per_second(lambda: split_many(images, radii), args.images, args.repeats)

    print(f"{args.channels}x{args.size}x{args.size} images, radius {args.radius}, {args.threads} thread(s)")
    print(f"{'method':<44} {'images/s':>12} {'vs numpy loop':>14}")
    rows = [
        ("numpy per-image loop (authors' style), 1 radius", numpy_rate),
        ("hfc.frequency.split, 1 radius", torch_rate),
        (f"hfc.frequency.split_many, {len(radii)} radii (per radius)", many_rate * len(radii)),
    ]
    for name, rate in rows:
        print(f"{name:<44} {rate:>12.0f} {rate / numpy_rate:>13.1f}x")


if __name__ == "__main__":
    main()
