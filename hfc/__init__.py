"""hfc: the science of hfc-repro, importable and testable without Snakemake.

Reproduces Wang et al., "High-frequency Component Helps Explain the Generalization of
Convolutional Neural Networks" (CVPR 2020). Images are float tensors N×C×H×W in [0, 1]
everywhere; normalisation lives inside the models.
"""

__version__ = "0.1.0"
