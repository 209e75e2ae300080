"""Evaluation, Fourier-heat-map and attack speed against the images per forward pass, and
whether any number moves (issue 19: the CPU default's ``evaluation.batch_size`` 500 -> 100,
``analysis.fourier_heatmap.batch_size`` 4096 -> 200 and ``robustness.batch_size`` 500 -> 100).

For each model, ``hfc.train.evaluate`` over the same images at every batch size,
``hfc.fourier_heatmap.fourier_heatmap`` over the same images at each of its batch sizes, and
Table 2's ``hfc.robustness.attack_table`` (FGSM and PGD at two ρ and two ε) at each of its; the
sizes alternate in ``--rounds`` rounds and each time is the median round, so the slow drift of a
shared machine's load cancels. Every row says whether its numbers (accuracy and loss; the whole
heat map) equal those of the first batch size exactly. Ratios are against the first size,
measured in the same run.

    python benchmarks/batch_size.py                    # 1 thread, small CNN and ResNet-18: about 4 min
    python benchmarks/batch_size.py --trained results  # also Table 2's attacks on a finished
                                                       # default run's trained model and test images
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from hfc import robustness, train
from hfc.fourier_heatmap import fourier_heatmap
from hfc.models import build_model


def _model(name: str, channels: int, size: int, width: float) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(name, in_channels=channels, num_classes=10, image_size=size,
                        mean=[0.5] * channels, std=[0.25] * channels, width=width)  # fmt: skip
    return model.eval()


def _timed(fn, rounds: int, sizes: list[int]) -> tuple[dict[int, float], dict[int, object]]:
    times: dict[int, list[float]] = {size: [] for size in sizes}
    results: dict[int, object] = {}
    for _ in range(rounds):
        for size in sizes:
            start = time.perf_counter()
            results[size] = fn(size)
            times[size].append(time.perf_counter() - start)
    return {size: statistics.median(t) for size, t in times.items()}, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=4500, help="images evaluated per pass (the default's 18 sets of 500 per split: 9000)")
    parser.add_argument("--eval-sizes", default="500,250,100,50")
    parser.add_argument("--heatmap-sizes", default="4096,1000,200,100")
    parser.add_argument("--heatmap-images", type=int, default=100)
    parser.add_argument("--attack-sizes", default="500,100")
    parser.add_argument("--attack-images", type=int, default=500, help="images attacked (the default's robustness.test_size)")
    parser.add_argument("--trained", help="a finished default run's results/ folder: Table 2's attacks (every rho and eps) "
                        "on its vanilla model and stratified test images, too")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    eval_sizes = [int(s) for s in args.eval_sizes.split(",")]
    heatmap_sizes = [int(s) for s in args.heatmap_sizes.split(",")]
    attack_sizes = [int(s) for s in args.attack_sizes.split(",")]
    generator = torch.Generator().manual_seed(0)

    print(f"threads {args.threads}, median of {args.rounds} rounds; ratio = time at the first size / time")
    print(f"{'what':44s} {'batch':>6s} {'seconds':>8s} {'ratio':>6s}  same numbers")
    cases = [("small_cnn", 1, 28, 0.5), ("resnet18", 3, 32, 0.25)]
    for name, channels, size, width in cases:
        model = _model(name, channels, size, width)
        images = torch.rand(args.images, channels, size, size, generator=generator)
        labels = torch.randint(0, 10, (args.images,), generator=generator)
        seconds, results = _timed(lambda b: train.evaluate(model, images, labels, b), args.rounds, eval_sizes)
        for b in eval_sizes:
            what = f"evaluate, {name} {channels}x{size}x{size}, {args.images} images"
            same = "yes" if results[b] == results[eval_sizes[0]] else f"NO {results[b]} vs {results[eval_sizes[0]]}"
            print(f"{what:44s} {b:6d} {seconds[b]:8.2f} {seconds[eval_sizes[0]] / seconds[b]:6.2f}  {same}")
        if name == "small_cnn":  # the default's heat maps are of the small CNN
            few, few_labels = images[: args.heatmap_images], labels[: args.heatmap_images]
            seconds, maps = _timed(lambda b: fourier_heatmap(model, few, few_labels, 4.0, seed=0, batch_size=b),
                                   args.rounds, heatmap_sizes)  # fmt: skip
            for b in heatmap_sizes:
                what = f"heat map, {name}, {args.heatmap_images} images x {len(maps[b])} freq."
                same = "yes" if maps[b].equals(maps[heatmap_sizes[0]]) else "NO"
                print(f"{what:44s} {b:6d} {seconds[b]:8.2f} {seconds[heatmap_sizes[0]] / seconds[b]:6.2f}  {same}")
            # Table 2's attacks: each image's gradient is its own (no random start), so only speed moves
            few, few_labels = images[: args.attack_images], labels[: args.attack_images]

            def attacked(b):
                return robustness.attack_table(model, few, few_labels, run="bench", seed=0, label="natural",
                                               rhos=[0.0, 1.0], eps=[0.03, 0.09], pgd_steps=10,
                                               pgd_step_fraction=0.25, batch_size=b, log=lambda line: None)  # fmt: skip

            seconds, tables = _timed(attacked, args.rounds, attack_sizes)
            for b in attack_sizes:
                what = f"Table 2 attacks, {name}, {args.attack_images} images"
                same = "yes" if tables[b].equals(tables[attack_sizes[0]]) else "NO"
                print(f"{what:44s} {b:6d} {seconds[b]:8.2f} {seconds[attack_sizes[0]] / seconds[b]:6.2f}  {same}")
    if args.trained:
        _trained_attacks(args, attack_sizes)


def _trained_attacks(args, sizes: list[int]) -> None:
    """Table 2's attacks as the default run makes them: an untrained model on random images
    understates what the batch size does to a trained one on real images."""
    from pathlib import Path

    from hfc import data

    folder = Path(args.trained)
    model = train.load_model(folder / "runs/vanilla/seed0/model.pt")
    subset = data.load_canonical(folder / "data/fashion_mnist/subset.pt")
    index = data.stratified_subset(subset["test_labels"], args.attack_images, 0)
    images, labels = data.to_float(subset["test_images"][index]), subset["test_labels"][index]

    def attacked(b):
        return robustness.attack_table(model, images, labels, run="bench", seed=0, label="natural",
                                       rhos=[0.0, 0.1, 0.25, 0.5, 1.0], eps=[0.03, 0.06, 0.09], pgd_steps=10,
                                       pgd_step_fraction=0.25, batch_size=b, log=lambda line: None)  # fmt: skip

    seconds, tables = _timed(attacked, args.rounds, sizes)
    for b in sizes:
        what = f"Table 2 attacks, trained vanilla, {len(index)} images"
        same = "yes" if tables[b].equals(tables[sizes[0]]) else "NO"
        print(f"{what:44s} {b:6d} {seconds[b]:8.2f} {seconds[sizes[0]] / seconds[b]:6.2f}  {same}")


if __name__ == "__main__":
    main()
