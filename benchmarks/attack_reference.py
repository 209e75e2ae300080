"""The attack suite at its configured budget against an independent reference at AutoAttack's budget.

On trained models (the default run's M_natural and M_adversarial, first layer smoothed by each
ρ), on the suite's stratified test images: the suite as configured (hfc.attack_suite, the config's
robustness.suite) beside torchattacks 3.5.1 (a test-only reference, an independent
implementation) at the reference budget: APGD-CE and APGD-DLR with 100 steps × 3 restarts and
Square with 5,000 queries. Prints, per model × ρ × ε, each attack's robust accuracy in both and
the difference (suite − reference; > 0 means the suite's budget leaves accuracy the reference
takes away), and the worst case of each side. Slow on a CPU (the reference's Square queries
every surviving image 5,000 times, one point at a time): minutes per model × ρ × ε.

    python benchmarks/attack_reference.py --eps 0.09 --rhos 0 1 --csv results/attack_reference.csv
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
from hfc.smoothing import smooth_first_conv  # noqa: E402
from suite_inputs import MODELS, add_arguments, suite_images  # noqa: E402


def reference_attacks(torchattacks, model, eps: float, seed: int, steps: int, restarts: int, queries: int) -> dict:
    return {
        "apgd_ce": torchattacks.APGD(model, eps=eps, steps=steps, n_restarts=restarts, seed=seed, loss="ce"),
        "apgd_dlr": torchattacks.APGD(model, eps=eps, steps=steps, n_restarts=restarts, seed=seed, loss="dlr"),
        "square": torchattacks.Square(model, eps=eps, n_queries=queries, seed=seed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--steps", type=int, default=100, help="reference APGD steps")
    parser.add_argument("--restarts", type=int, default=3, help="reference APGD restarts")
    parser.add_argument("--queries", type=int, default=5000, help="reference Square queries")
    args = parser.parse_args()
    try:
        import torchattacks
    except ImportError:
        parser.error("needs torchattacks (the test-only reference): pip install torchattacks==3.5.1")
    config, images, labels = suite_images(args)
    settings = config["robustness"]["suite"] | {"eps": args.eps}  # Square's budgets per point as configured
    n = len(labels)
    rows = []
    for label, path in args.model or MODELS.items():
        model = train.load_model(path, "cpu").eval()
        start = time.process_time()
        ours = attack_suite.smoothing_attack_table(model, images, labels, settings, args.rhos)
        print(f"{label}: the suite as configured in {time.process_time() - start:.0f} CPU-s", flush=True)
        for rho in args.rhos:
            smoothed = smooth_first_conv(model, rho).eval()
            for eps in args.eps:
                worst = torch.ones(n, dtype=torch.bool)
                with torch.no_grad():
                    worst &= smoothed(images).argmax(dim=1) == labels
                for name, attack in reference_attacks(torchattacks, smoothed, eps, settings["seed"], args.steps, args.restarts, args.queries).items():  # fmt: skip
                    start = time.process_time()
                    adv = attack(images, labels)
                    with torch.no_grad():
                        correct = smoothed(adv).argmax(dim=1) == labels
                    worst &= correct
                    mine = ours[(ours["rho"] == rho) & (ours["attack"] == name) & (ours["eps"].round(6) == round(eps, 6))]
                    rows.append({"model": label, "rho": rho, "eps": eps, "attack": name,
                                 "suite": mine["accuracy"].iloc[0] if len(mine) else float("nan"),
                                 "suite_budget": _budget(name, settings, mine),
                                 "reference": correct.float().mean().item(), "reference_cpu_s": time.process_time() - start})  # fmt: skip
                    print(f"  {label} rho={rho:g} eps={eps:g} {name}: reference {rows[-1]['reference']:.2f} "
                          f"({rows[-1]['reference_cpu_s']:.0f} CPU-s), suite {rows[-1]['suite']:.2f}", flush=True)  # fmt: skip
                mine = ours[(ours["rho"] == rho) & (ours["attack"] == attack_suite.ENSEMBLE) & (ours["eps"].round(6) == round(eps, 6))]
                rows.append({"model": label, "rho": rho, "eps": eps, "attack": "worst case",
                             "suite": mine["accuracy"].iloc[0], "suite_budget": "all attacks of the suite",
                             "reference": worst.float().mean().item(), "reference_cpu_s": float("nan")})  # fmt: skip
    table = pd.DataFrame(rows)
    table["difference"] = table["suite"] - table["reference"]
    print(f"\nRobust accuracy on {n} images: the suite as configured ({args.config}) against torchattacks at "
          f"APGD {args.steps} steps × {args.restarts} restarts, Square {args.queries} queries (difference = suite − reference)")  # fmt: skip
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if args.csv:
        table.to_csv(args.csv, index=False)


def _budget(name: str, s: dict, mine: pd.DataFrame) -> str:
    if name == "square":
        return f"{mine['queries'].iloc[0]:.0f} queries" if len(mine) else "not run"
    return f"{s['apgd_steps']} steps × {s['apgd_restarts']} restart(s)"


if __name__ == "__main__":
    main()
