"""Square's robust accuracy against its query budget on trained models: where is its plateau?

Loads trained models (the default run's M_natural and M_adversarial by default), the suite's
stratified test images (robustness.suite.test_size / seed of the config) and runs Square at
each budget on every ρ × ε at once (hfc.attack_suite.square_budget_table, as the suite does).
Prints one row per model × ρ × ε with the accuracy left at each budget, and per budget the
CPU time of all points together. ``accuracy_at_half`` (after the first half of a budget's
queries) is what the checklist reads to call a point "at its plateau".

    python benchmarks/square_budget.py --budgets 100 300 1000 2000 5000 10000 --eps 0.09
    python benchmarks/square_budget.py --csv results/square_budget.csv --png results/square_budget.png
    python benchmarks/square_budget.py --suite-cost   # Square's share of one attack_suite job, before and after

``--suite-cost`` times, per model and in CPU-seconds of this process, Square as one
attack_suite job runs it: before issue 20 (100 queries at every ρ × ε of the config, one point at
a time through hfc.attacks.square in the default memory layout) and now (the config's budgets:
square_queries at square_eps × square_rhos, square_queries_elsewhere elsewhere, every point of a
budget in one search, channels-last), with the accuracy each leaves at ε = 0.09.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's hfc, not an installed one

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from hfc import attack_suite, train  # noqa: E402
from hfc.attacks import square  # noqa: E402
from hfc.smoothing import smooth_first_conv  # noqa: E402
from suite_inputs import MODELS, add_arguments, suite_images  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--budgets", type=int, nargs="+", default=[100, 300, 1000, 2000, 5000])
    parser.add_argument("--png", type=Path)
    parser.add_argument("--suite-cost", action="store_true", help="Square's cost in one attack_suite job, before / now")
    parser.add_argument("--before-queries", type=int, default=100, help="--suite-cost: the budget before issue 20")
    args = parser.parse_args()
    config, images, labels = suite_images(args)
    settings = config["robustness"]["suite"]
    if args.suite_cost:
        suite_cost(args, config, images, labels)
        return
    frames = []
    for label, path in args.model or MODELS.items():
        model = train.load_model(path, "cpu")
        table = attack_suite.square_budget_table(
            model, images, labels, settings, args.rhos, args.eps, args.budgets, log=lambda line, label=label: print(f"{label}: {line}", flush=True)
        )  # fmt: skip
        frames.append(table.assign(model=label))
    table = pd.concat(frames, ignore_index=True)
    wide = table.pivot_table(index=["model", "rho", "eps"], columns="queries", values="accuracy", sort=False)
    half = table.pivot_table(index=["model", "rho", "eps"], columns="queries", values="accuracy_at_half", sort=False)
    print(f"\nSquare's robust accuracy on {len(labels)} images, by query budget (seed {settings['seed']}):")
    print(wide.to_string(float_format=lambda v: f"{v:.2f}"))
    print("\nits accuracy after the first half of each budget (the plateau test reads final vs this):")
    print(half.to_string(float_format=lambda v: f"{v:.2f}"))
    cpu = table.groupby(["model", "queries"])["cpu_seconds"].first().unstack()
    print("\nCPU-seconds per budget (all ρ × ε of one model at once, 1 thread):")
    print(cpu.to_string(float_format=lambda v: f"{v:.1f}"))
    if args.csv:
        table.to_csv(args.csv, index=False)
    if args.png:
        from hfc.figures import plt

        fig, ax = plt.subplots(figsize=(5.5, 3.6), layout="constrained")
        for (model, rho, eps), rows in table.groupby(["model", "rho", "eps"], sort=False):
            ax.plot(rows["queries"], rows["accuracy"], marker="o", label=f"{model}, ρ = {rho:g}, ε = {eps:g}")
        ax.set_xscale("log")
        ax.set_xlabel("Square query budget per image")
        ax.set_ylabel("robust accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.savefig(args.png, dpi=150)


def suite_cost(args, config, images, labels) -> None:
    s = attack_suite.check_settings(config["robustness"]["suite"])
    rhos = [float(r) for r in config["robustness"]["rhos"]]
    n = len(labels)
    batches = [slice(i, i + s["batch_size"]) for i in range(0, n, s["batch_size"])]
    print(f"Square in one attack_suite job: rho {rhos} x eps {s['eps']}, {n} images, {args.threads} thread(s), CPU-seconds")
    print(f"{'model':<14} {'before':>8} {'now':>8} {'now/before':>11}   accuracy at eps 0.09 (rho: before -> now)")
    for label, path in args.model or MODELS.items():
        model = train.load_model(path, "cpu").eval()
        models = [smooth_first_conv(model, rho).eval() for rho in rhos]
        with torch.no_grad():
            clean = [m(images).argmax(dim=1) == labels for m in models]
        start = time.process_time()
        before = {}
        for m, rho in enumerate(rhos):
            for eps in s["eps"]:
                gen = torch.Generator().manual_seed(s["seed"])
                adv = square(models[m], images, labels, eps, args.before_queries, s["square_p_init"], generator=gen)
                with torch.no_grad():
                    before[(rho, eps)] = (models[m](adv).argmax(dim=1) == labels).float().mean().item()
        t_before = time.process_time() - start
        start = time.process_time()
        now = {}
        groups: dict[int, list] = {}
        for m, rho in enumerate(rhos):
            for eps in s["eps"]:
                queries = attack_suite.square_queries_at(s, rho, eps)
                if queries:
                    groups.setdefault(queries, []).append((m, eps))
        for queries, blocks in groups.items():
            for (m, eps), (correct, _) in zip(blocks, attack_suite._square_blocks(models, blocks, images, labels, clean, queries, s, batches)):  # fmt: skip
                now[(rhos[m], eps)] = correct.float().mean().item()
        t_now = time.process_time() - start
        # the engine alone: the old budget on every point, all at once and channels-last
        start = time.process_time()
        points = [(m, eps) for m in range(len(rhos)) for eps in s["eps"]]
        same = attack_suite._square_blocks(models, points, images, labels, clean, args.before_queries, s, batches)
        t_same = time.process_time() - start
        differ = max(abs(correct.float().mean().item() - before[(rhos[m], eps)]) for (m, eps), (correct, _) in zip(points, same))
        shown = ", ".join(f"{rho:g}: {before[(rho, 0.09)]:.2f} -> {now.get((rho, 0.09), float('nan')):.2f}" for rho in rhos if (rho, 0.09) in before)  # fmt: skip
        print(f"{label:<14} {t_before:>8.1f} {t_now:>8.1f} {t_now / t_before:>10.2f}x   {shown}", flush=True)
        print(f"{'':<14} the old budget run the new way: {t_same:.1f} CPU-s, {t_before / t_same:.1f}x faster than before "
              f"(largest accuracy difference of a point {differ:.3f})", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
