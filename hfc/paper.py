"""The paper's own numbers, transcribed from Wang et al. (CVPR 2020), to compare against.

All values are the paper's CIFAR-10 / ResNet-18 results (vanilla set-up of §4.2: 100
epochs, Adam, learning rate 1e-4, batch size 100, Xavier initialisation, pixels in
[0, 1]). They are reference values only; nothing in the pipeline computes them.

- ``TABLE1`` (Table 1, §4.2): a model trained on LFC(r) or HFC(r) images; train accuracy
  on the images it was trained on, test accuracy on the original test set.
- ``TABLE2`` (Table 2, §6.3): M_natural / M_adversarial (PGD eps=0.03 adversarial
  training) with first-layer kernels smoothed by rho (rho=0: unsmoothed), evaluated
  clean and under FGSM / PGD at eps 0.03, 0.06, 0.09 (pixel range 1.0). Clean rows carry
  eps=0.
"""

from __future__ import annotations

import pandas as pd

PAPER_SETUP = {
    "dataset": "CIFAR-10",
    "model": "ResNet-18",
    "epochs": 100,
    "optimizer": "adam",
    "lr": 1e-4,
    "batch_size": 100,
}

# Table 1, one record per (band, radius).
TABLE1: tuple[dict, ...] = (
    {"band": "low", "radius": 4, "train_acc": 0.9668, "test_acc": 0.6167},
    {"band": "low", "radius": 8, "train_acc": 0.9786, "test_acc": 0.7154},
    {"band": "low", "radius": 12, "train_acc": 0.9786, "test_acc": 0.7516},
    {"band": "low", "radius": 16, "train_acc": 0.9839, "test_acc": 0.7714},
    {"band": "high", "radius": 4, "train_acc": 0.9885, "test_acc": 0.2002},
    {"band": "high", "radius": 8, "train_acc": 0.9768, "test_acc": 0.092},
    {"band": "high", "radius": 12, "train_acc": 0.9797, "test_acc": 0.0997},
    {"band": "high", "radius": 16, "train_acc": 0.9384, "test_acc": 0.1281},
)

# Table 2 row by row as printed (columns: clean, FGSM eps .03/.06/.09, PGD eps .03/.06/.09);
# expanded into tidy records below so the transcription can be checked against the paper
# line by line.
_TABLE2_COLUMNS: tuple[tuple[str, float], ...] = (
    ("clean", 0.0),
    ("fgsm", 0.03),
    ("fgsm", 0.06),
    ("fgsm", 0.09),
    ("pgd", 0.03),
    ("pgd", 0.06),
    ("pgd", 0.09),
)
_TABLE2_ROWS: tuple[tuple[str, float, tuple[float, ...]], ...] = (
    ("natural", 0.0, (0.856, 0.107, 0.069, 0.044, 0.003, 0.002, 0.002)),
    ("natural", 0.10, (0.815, 0.149, 0.105, 0.073, 0.009, 0.002, 0.001)),
    ("natural", 0.25, (0.743, 0.16, 0.11, 0.079, 0.021, 0.005, 0.005)),
    ("natural", 0.50, (0.674, 0.17, 0.11, 0.083, 0.031, 0.016, 0.014)),
    ("natural", 1.0, (0.631, 0.171, 0.14, 0.127, 0.086, 0.078, 0.078)),
    ("adversarial", 0.0, (0.707, 0.435, 0.232, 0.137, 0.403, 0.138, 0.038)),
    ("adversarial", 0.10, (0.691, 0.412, 0.192, 0.109, 0.379, 0.13, 0.047)),
    ("adversarial", 0.25, (0.667, 0.385, 0.176, 0.097, 0.352, 0.116, 0.04)),
    ("adversarial", 0.50, (0.653, 0.365, 0.18, 0.106, 0.334, 0.121, 0.062)),
    ("adversarial", 1.0, (0.638, 0.356, 0.223, 0.186, 0.337, 0.175, 0.131)),
)

TABLE2: tuple[dict, ...] = tuple(
    {"model": model, "rho": rho, "attack": attack, "eps": eps, "accuracy": acc}
    for model, rho, accs in _TABLE2_ROWS
    for (attack, eps), acc in zip(_TABLE2_COLUMNS, accs, strict=True)
)


def table1_frame() -> pd.DataFrame:
    """Table 1 of the paper (CIFAR-10, ResNet-18): columns band, radius, train_acc, test_acc."""
    return pd.DataFrame.from_records(TABLE1, columns=["band", "radius", "train_acc", "test_acc"])


def table2_frame() -> pd.DataFrame:
    """Table 2 of the paper (CIFAR-10, ResNet-18): columns model, rho, attack, eps, accuracy."""
    return pd.DataFrame.from_records(TABLE2, columns=["model", "rho", "attack", "eps", "accuracy"])
