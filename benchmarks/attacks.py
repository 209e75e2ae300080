"""Images/s of the attacks: batched FGSM / PGD against one image at a time, and every attack of the suite.

First table: batched hfc.attacks.fgsm / pgd against the same attacks run one image at a
time. The per-image loop stands in for the authors' Foolbox-2 evaluation, which attacked one
image per call. Second table: each attack of the suite (hfc.attack_suite: FGSM, PGD with
restarts, APGD-CE, APGD-DLR, Square) at the given budgets, its images/s and its cost in FGSMs
(FGSM images/s divided by its own). All is measured in the same run, on the same small CNN
and images; ratios are what to compare across machines (absolute timings swing on shared CPUs).

APGD, Square and PGD's restarts stop attacking an image once it is misclassified, so their
cost depends on how robust the model is: the labels are the untrained CNN's own predictions
(clean accuracy 1) and the table prints the accuracy left after each attack.

    python benchmarks/attacks.py --images 256 --size 28 --steps 10 --threads 1
    python benchmarks/attacks.py --apgd-steps 100 --square-queries 5000 --pgd-restarts 5   # AutoAttack's budgets
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn as nn

from hfc import attack_suite
from hfc.attacks import fgsm, pgd


def small_cnn(channels: int, size: int) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * (size // 4) ** 2, 10),
        )


def timed(fn, device: torch.device, repeats: int) -> tuple[float, torch.Tensor]:
    best, out = float("inf"), None
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument(
        "--loop-images", type=int, default=None, help="images timed in the per-image loop (default: all)"
    )
    parser.add_argument("--batch-size", type=int, default=256, help="batch size of the batched attacks")
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--eps", type=float, default=0.03)
    parser.add_argument("--steps", type=int, default=10, help="PGD steps")
    parser.add_argument("--step-size", type=float, default=None, help="PGD step size (default eps/10, the paper's)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: tiny ops on a shared CPU slow down with more)",
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--pgd-restarts", type=int, default=2, help="suite: PGD runs per image")
    parser.add_argument("--apgd-steps", type=int, default=10, help="suite: APGD iterations")
    parser.add_argument("--square-queries", type=int, default=100, help="suite: Square query budget (config.yaml's)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.size % 4:
        parser.error("--size must be a multiple of 4 (two 2×2 poolings)")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    step_size = args.step_size if args.step_size is not None else args.eps / 10
    n_loop = min(args.loop_images or args.images, args.images)

    model = small_cnn(args.channels, args.size).to(device).eval()
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(args.images, args.channels, args.size, args.size, generator=gen).to(device)
    labels = torch.randint(0, 10, (args.images,), generator=gen).to(device)
    with torch.no_grad():
        own = model(images).argmax(dim=1)  # clean accuracy 1, so every image is attacked in full

    attacks = {
        "fgsm": lambda x, y: fgsm(model, x, y, args.eps),
        f"pgd ({args.steps} steps)": lambda x, y: pgd(model, x, y, args.eps, args.steps, step_size),
    }

    def batched(attack):
        return torch.cat(
            [
                attack(images[i : i + args.batch_size], labels[i : i + args.batch_size])
                for i in range(0, args.images, args.batch_size)
            ]
        )

    def looped(attack):
        return torch.cat([attack(images[i : i + 1], labels[i : i + 1]) for i in range(n_loop)])

    print(
        f"{args.images} images {args.channels}x{args.size}x{args.size}, eps {args.eps}, batch {args.batch_size}, "
        f"{args.threads} thread(s), {device}; per-image loop timed on {n_loop} images"
    )
    print(f"{'attack':<18} {'batched img/s':>14} {'per-image img/s':>16} {'ratio':>8} {'max |diff|':>11}")
    for name, attack in attacks.items():
        attack(images[:2], labels[:2])  # warm-up (allocator, kernels)
        t_batch, adv_batch = timed(lambda: batched(attack), device, args.repeats)
        t_loop, adv_loop = timed(lambda: looped(attack), device, args.repeats)
        # Same answer first: a fast path that is wrong is not a speed-up.
        diff = (adv_batch[:n_loop] - adv_loop).abs().max().item()
        rate_batch, rate_loop = args.images / t_batch, n_loop / t_loop
        print(f"{name:<18} {rate_batch:>14.0f} {rate_loop:>16.0f} {rate_batch / rate_loop:>7.1f}x {diff:>11.2g}")

    settings = {
        "eps": [args.eps], "pgd_steps": args.steps, "pgd_restarts": args.pgd_restarts,
        "pgd_step_fraction": step_size / args.eps, "apgd_steps": args.apgd_steps,
        "square_queries": args.square_queries, "batch_size": args.batch_size,
    }  # fmt: skip
    print()
    print(
        f"attack suite at eps {args.eps}: PGD {args.steps} steps x {args.pgd_restarts} runs, APGD {args.apgd_steps} "
        f"steps, Square {args.square_queries} queries; batch {args.batch_size}"
    )
    print(f"{'attack':<18} {'img/s':>10} {'x FGSM cost':>12} {'accuracy left':>14}")
    fgsm_rate = None
    for name in attack_suite.SUITE_ATTACKS:
        chosen = settings | {"attacks": [name]}
        attack_suite.attack_table(model, images[:2], own[:2], chosen)  # warm-up
        # Each timing includes the table's clean pass and its accuracy pass, as in the workflow.
        seconds, table = timed(lambda: attack_suite.attack_table(model, images, own, chosen), device, args.repeats)
        rate = args.images / seconds
        fgsm_rate = rate if name == "fgsm" else fgsm_rate
        accuracy = table.loc[table["attack"] == name, "accuracy"].iloc[0]
        print(f"{name:<18} {rate:>10.0f} {fgsm_rate / rate:>11.1f}x {accuracy:>14.3f}")


if __name__ == "__main__":
    main()
