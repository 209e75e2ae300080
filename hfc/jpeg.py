"""What JPEG compression does to the high-frequency components (the JPEG caveat of real-image runs).

The CIFAR-10 subset this project can run on is stored as JPEG at quality about 75, and JPEG
quantises high spatial frequencies hardest: exactly the components this paper is about.
These helpers measure it on lossless images (``benchmarks/jpeg_hfc.py`` runs them on
Fashion-MNIST; docs/claims.md, "JPEG and HFC", has the numbers).

Energies use the project's split (:func:`hfc.frequency.split`, no rescaling). Because the
band masks are symmetric, x_h is exactly the inverse transform of the masked spectrum, so by
Parseval its sum of squares is the high band's share of the spectrum's energy.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image

from hfc.frequency import split_many

__all__ = ["jpeg_roundtrip", "hfc_energy_fraction", "jpeg_hfc_table"]


def jpeg_roundtrip(images: torch.Tensor, quality: int = 75) -> torch.Tensor:
    """uint8 N×C×H×W images (C = 1 or 3) encoded as JPEG by Pillow at ``quality`` and decoded."""
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"jpeg_roundtrip needs uint8 N×1×H×W or N×3×H×W images, got {images.dtype} {tuple(images.shape)}")
    if not 1 <= int(quality) <= 95:
        raise ValueError(f"quality must be in 1..95 (Pillow's useful range), got {quality}")
    out = torch.empty_like(images)
    mode = "L" if images.shape[1] == 1 else "RGB"
    for i, image in enumerate(images):
        array = image[0].numpy() if mode == "L" else image.permute(1, 2, 0).numpy()
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(array), mode).save(buffer, format="JPEG", quality=int(quality))
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            pixels = torch.from_numpy(np.array(decoded.convert(mode), dtype=np.uint8))
        out[i] = pixels.unsqueeze(0) if mode == "L" else pixels.permute(2, 0, 1)
    return out


def hfc_energy_fraction(images: torch.Tensor, radii: Sequence[int]) -> dict[int, float]:
    """Share of the images' energy (sum of squared pixels, [0, 1] scale) in x_h(r), per radius."""
    x = images.to(torch.float64) / 255 if images.dtype == torch.uint8 else images.to(torch.float64)
    total = float(x.pow(2).sum())
    return {r: float(high.pow(2).sum()) / total for r, (_, high) in split_many(x, list(radii)).items()}


def jpeg_hfc_table(images: torch.Tensor, radii: Sequence[int], quality: int = 75) -> pd.DataFrame:
    """Per radius: x_h's energy share before and after JPEG, and how much of x_h JPEG changed.

    ``hfc_energy_before`` / ``_after``: x_h(r)'s share of the image energy. ``hfc_kept`` =
    after / before (JPEG's blocking can add HFC as it removes some). ``hfc_error``: energy of
    x_h(after) − x_h(before) relative to x_h(before)'s: the part of the original HFC that is
    not in the JPEG image's HFC.
    """
    compressed = jpeg_roundtrip(images, quality)
    x = images.to(torch.float64) / 255
    y = compressed.to(torch.float64) / 255
    before, after = split_many(x, list(radii)), split_many(y, list(radii))
    total_x, total_y = float(x.pow(2).sum()), float(y.pow(2).sum())
    rows = []
    for r in radii:
        hx, hy = before[r][1], after[r][1]
        ex, ey = float(hx.pow(2).sum()), float(hy.pow(2).sum())
        rows.append(
            {"radius": int(r), "quality": int(quality), "hfc_energy_before": ex / total_x,
             "hfc_energy_after": ey / total_y, "hfc_kept": ey / ex, "hfc_error": float((hy - hx).pow(2).sum()) / ex}
        )  # fmt: skip
    return pd.DataFrame(rows)
