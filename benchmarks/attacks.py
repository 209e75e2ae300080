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

Third table (issue 20): Square on every ρ × ε point of the suite, before (one point at a time,
hfc.attacks.square in the default memory layout: the suite's code before issue 20) and after
(every point in one search, channels-last forward passes: hfc.attack_suite), in CPU-seconds of
this process (less sensitive than wall time to other jobs on a shared machine), with the
accuracy each leaves (the same up to the last bits of the forward pass).

    python benchmarks/attacks.py --images 256 --size 28 --steps 10 --threads 1
    python benchmarks/attacks.py --apgd-steps 100 --square-queries 5000 --pgd-restarts 5   # AutoAttack's budgets
    python benchmarks/attacks.py --images 100 --square-only --square-queries 1000 --suite-eps 0.03 0.09 0.3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's hfc, not an installed one

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from hfc import attack_suite  # noqa: E402
from hfc.attacks import fgsm, pgd, square  # noqa: E402
from hfc.smoothing import smooth_first_conv  # noqa: E402


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
    parser.add_argument("--suite-eps", type=float, nargs="+", default=[0.03, 0.09, 0.3], help="Square table: ε")
    parser.add_argument("--suite-rhos", type=float, nargs="+", default=[0.0, 1.0], help="Square table: ρ")
    parser.add_argument("--square-only", action="store_true", help="only the Square before/after table")
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

    if args.square_only:
        square_before_after(model, images, own, args, device)
        return
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
    print()
    square_before_after(model, images, own, args, device)


def square_before_after(model, images, labels, args, device) -> None:
    """Square on every ρ × ε: one point at a time in the default layout, then all at once channels-last."""
    models = [smooth_first_conv(model, rho).eval() for rho in args.suite_rhos]
    settings = attack_suite.check_settings({"eps": args.suite_eps, "square_queries": args.square_queries,
                                            "batch_size": max(args.batch_size, args.images), "seed": 0})  # fmt: skip
    batches = [slice(0, args.images)]
    with torch.no_grad():
        clean = [m(images).argmax(dim=1) == labels for m in models]
    points = [(m, e) for m in range(len(models)) for e in args.suite_eps]
    before, after = [], []
    for _ in range(args.repeats):
        start = time.process_time()
        accuracy = []
        for m, eps in points:
            adv = square(models[m], images, labels, eps, args.square_queries, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                accuracy.append((models[m](adv).argmax(dim=1) == labels).float().mean().item())
        before.append(time.process_time() - start)
        start = time.process_time()
        results = attack_suite._square_blocks(models, points, images, labels, clean, args.square_queries, settings, batches)
        after.append(time.process_time() - start)
    batched = [correct.float().mean().item() for correct, _ in results]
    t_before, t_after = min(before), min(after)
    print(
        f"Square, {args.square_queries} queries, on {len(points)} points (ρ {args.suite_rhos} × ε {args.suite_eps}), "
        f"{args.images} images, {args.threads} thread(s): CPU-seconds, best of {args.repeats}"
    )
    print(f"{'':<44} {'CPU-s':>8} {'mean accuracy left':>19}")
    print(f"{'before: one point at a time, default layout':<44} {t_before:>8.2f} {sum(accuracy) / len(accuracy):>19.3f}")
    print(f"{'after: all points at once, channels-last':<44} {t_after:>8.2f} {sum(batched) / len(batched):>19.3f}")
    print(
        f"speed-up {t_before / t_after:.1f}x; largest accuracy difference of a point "
        f"{max(abs(a - b) for a, b in zip(accuracy, batched)):.3f}"
    )


if __name__ == "__main__":
    main()
