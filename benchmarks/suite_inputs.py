"""What benchmarks/square_budget.py and benchmarks/attack_reference.py share: the models they
attack, their common options, and the attack suite's stratified test images of a finished run."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from hfc import data
from hfc.config import load_config

MODELS = {
    "M_natural": "results/runs/vanilla/seed0/model.pt",
    "M_adversarial": "results/runs/heuristic-adversarial/seed0/model.pt",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--subset", default="results/data/fashion_mnist/subset.pt")
    parser.add_argument("--model", nargs=2, action="append", metavar=("LABEL", "PATH"), help="default: the two of MODELS")
    parser.add_argument("--rhos", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--eps", type=float, nargs="+", default=[0.09])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--csv", type=Path)


def suite_images(args) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """(config, images, labels): the suite's test subset (robustness.suite.test_size / seed)."""
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    settings = config["robustness"]["suite"]
    subset = data.load_canonical(args.subset)
    index = data.stratified_subset(subset["test_labels"], settings["test_size"], settings["seed"])
    return config, data.to_float(subset["test_images"][index]), subset["test_labels"][index]
