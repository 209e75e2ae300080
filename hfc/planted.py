"""Planted datasets: class evidence put by construction into a chosen frequency band.

A known-answer check of the instrument (beyond the paper). If the workflow's LFC/HFC split,
its evaluation and its response curves measure what they claim to, then a model trained on
images whose labels are carried only by the high band must be at chance on x_l(r0) and good
on x_h(r0), and the reverse for the low band. Nothing here reads files: the dataset is a
deterministic function of its settings (``DEFAULTS``) and of this module's code.

Construction (all random draws from one ``torch.Generator`` seeded with ``seed``):

1. **Bands.** With the project's own mask (:func:`hfc.frequency.radial_mask`, the authors'
   ``distance < r`` in the shifted spectrum), the *low ring* is the bins with
   ``max(r0 - width, 1) <= d < r0`` (inside LFC(r0), the zero frequency excluded so that no
   class differs by mean brightness) and the *high ring* the bins with ``r0 <= d < r0 + width``
   (inside HFC(r0)). Rings rather than the whole disc / the whole outside put the evidence
   next to r0, so the response-curve radius (where x_l accuracy reaches 90 % of clean) must
   land within ``width`` of r0: for the low ring in (r0 - width, r0], for the high ring in
   (r0, r0 + width].
2. **Templates.** Per class c, band and channel, a complex Gaussian spectrum on the ring,
   inverse-FFT'd: ``t = T + iU``. Both the real part T and the imaginary part U lie in the
   ring (the ring is symmetric under k -> -k, so T and U are the ifft of the Hermitian and
   anti-Hermitian parts of the masked spectrum). T and U are scaled to unit root-mean-square.
3. **Jitter.** Each image gets its class template with a random amplitude ``a ~ U(0.75, 1.25)``
   and phase ``phi ~ U(-pi/3, pi/3)``: ``a (cos(phi) T - sin(phi) U)``, the real part of the
   template's spectrum rotated by ``phi``, so it stays in the ring.
4. **Background.** Class-independent natural-image-like noise in every band: per image and
   channel, amplitude spectrum ``1 / max(f, 1)`` (natural images fall off about as 1/f),
   uniform random phases, unit root-mean-square, plus a random brightness offset.
5. **Image.** ``background + strength * template(s)``, mapped to [0, 1] by one affine map for
   the whole dataset (0.5 + x / (2 max|x|)): a single scale and offset, so no pixel is clipped
   and no band gets content it was not given (only the zero frequency gets the offset). Then
   rounded to uint8 like every dataset of the workflow; the rounding error (at most 1/510) is
   the only thing outside the planted ring that depends on the class.

Modes (``band``):

- ``low``: the label's template in the low ring only;
- ``high``: in the high ring only;
- ``conflict``: a frequency shortcut. Training images carry the label's low template *and*
  its high template (either band alone predicts the label). Test images carry the low
  template of class a and the high template of class b = (a + 1) mod K, so the two bands
  disagree. ``test_labels`` are a (the low band's label); ``test_evidence_high`` holds b.
  Accuracy against each label set says which band the trained model follows.
- ``none``: negative control. The images are those of ``low`` (a hidden class's low
  template), but the labels are drawn independently of them: no band carries the label.

Besides the usual keys the dataset holds ``{train,test}_evidence_{low,high}``: per image the
class whose template sits in that ring, or -1 when the ring holds none.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from hfc.frequency import max_radius, radial_mask

__all__ = ["BANDS", "DEFAULTS", "check_settings", "ring_mask", "generate"]

BANDS = ("low", "high", "conflict", "none")
DEFAULTS: dict[str, Any] = {
    "band": "high",
    "radius": 4,
    "width": 2,
    "channels": 1,
    "classes": 10,
    "train_size": 2000,
    "test_size": 1000,
    "seed": 0,
    "strength": 1.0,
}
AMPLITUDE_JITTER = (0.75, 1.25)
PHASE_JITTER = math.pi / 3
# Smallest side of a planted image. At 8 the spectrum reaches d = 4 along an axis (5.66 in the
# corners): the 1/f background then spans two octaves (1 to 4), the least over which its fall-off
# means anything, and the smallest rings (r0 = 2: [1, 2) and [2, 4)) still leave background-only
# bins above the high ring. Below 8 the rings would cover most of the spectrum and "the label
# lives only in one band over a natural-image background" no longer holds.
MIN_IMAGE_SIZE = 8
# The rings whose templates carry a label in each mode (none: the low ring's hidden class is
# independent of the labels, so nothing has to be told apart there).
_EVIDENCE_RINGS = {"low": ("low",), "high": ("high",), "conflict": ("low", "high"), "none": ()}
# Grey or RGB, like every dataset of the workflow: the figures draw an image as grey or RGB
# (Figure 2; matplotlib has no two-channel image) and the image readers / JPEG code know no other.
CHANNELS = (1, 3)


def settings_with_defaults(settings: dict | None) -> dict:
    out = dict(DEFAULTS)
    unknown = sorted(set(settings or {}) - set(DEFAULTS))
    if unknown:
        raise ValueError(
            f"dataset.planted: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(DEFAULTS)}"
        )
    out.update({k: v for k, v in (settings or {}).items() if v is not None})
    return out


def check_settings(settings: dict | None, image_size: int | None) -> dict:
    """Settings with defaults filled in; ValueError naming the config key when unusable."""
    s = settings_with_defaults(settings)
    if image_size is None:
        raise ValueError("dataset planted needs dataset.image_size (e.g. 16): the side of the generated images")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < MIN_IMAGE_SIZE:
        raise ValueError(
            f"dataset.image_size {image_size!r} is too small for planted data: a 1/f background and the two rings "
            f"next to r0 need at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} images (hfc/planted.py MIN_IMAGE_SIZE); "
            "use 16 (grey, as configs/instrument/common.yaml) or 32 (RGB, configs/instrument/rgb.yaml)"
        )
    if s["band"] not in BANDS:
        raise ValueError(f"dataset.planted.band: {s['band']!r} is not one of {', '.join(BANDS)}")
    for key in ("radius", "width", "channels", "train_size", "test_size"):
        if isinstance(s[key], bool) or not isinstance(s[key], int) or s[key] < 1:
            raise ValueError(f"dataset.planted.{key} must be a positive integer, got {s[key]!r}")
    if s["channels"] not in CHANNELS:
        raise ValueError(
            f"dataset.planted.channels must be 1 (grey) or 3 (RGB), got {s['channels']!r}: the workflow's figures "
            "and image code read grey or RGB images only"
        )
    if isinstance(s["classes"], bool) or not isinstance(s["classes"], int) or s["classes"] < 2:
        raise ValueError(f"dataset.planted.classes must be an integer >= 2, got {s['classes']!r}")
    if not isinstance(s["strength"], (int, float)) or isinstance(s["strength"], bool) or not s["strength"] > 0:
        raise ValueError(f"dataset.planted.strength must be a positive number, got {s['strength']!r}")
    r0, w = s["radius"], s["width"]
    limit = max_radius(image_size, image_size)
    if r0 < 2:
        raise ValueError(
            f"dataset.planted.radius {r0}: the low ring [max(r - width, 1), r) would be empty; use a radius >= 2"
        )
    if r0 + w > limit:
        raise ValueError(
            f"dataset.planted.radius + width = {r0 + w} exceeds the largest frequency distance {limit:.2f} of "
            f"{image_size}x{image_size} images: lower dataset.planted.radius / width or raise dataset.image_size"
        )
    rings = _rings(image_size, r0, w)
    bounds = {"low": (max(r0 - w, 1), r0), "high": (r0, r0 + w)}
    for band in _EVIDENCE_RINGS[s["band"]]:
        # A real image on n bins of a symmetric ring has n real degrees of freedom (per channel),
        # and each class's jittered template spans two of them (its real and imaginary parts).
        # With fewer than 2 per class the class templates are linear combinations of each other
        # and the "learned by construction" claims could fail for a reason not the instrument's.
        capacity = int(rings[band].sum()) * s["channels"]
        if capacity < 2 * s["classes"]:
            inner, outer = bounds[band]
            raise ValueError(
                f"dataset.planted.radius / width: the {band} ring {inner} <= d < {outer} of a {image_size}x{image_size} "
                f"spectrum holds {int(rings[band].sum())} frequency bins x {s['channels']} channel(s) = {capacity} "
                f"degrees of freedom, fewer than the 2 x {s['classes']} that {s['classes']} class templates with random "
                "phase need (each spans two): widen the ring (dataset.planted.width), move it outwards "
                "(dataset.planted.radius) or plant fewer classes (dataset.planted.classes)"
            )
    for name in ("train_size", "test_size"):
        if s[name] < s["classes"]:
            raise ValueError(f"dataset.planted.{name} {s[name]} is below the {s['classes']} classes")
    return s


def ring_mask(size: int, inner: float, outer: float) -> torch.Tensor:
    """Bins of the shifted spectrum with ``inner <= d < outer`` (the project's own mask)."""
    return radial_mask(size, size, outer) & ~radial_mask(size, size, inner)


def _rings(size: int, radius: int, width: int) -> dict[str, torch.Tensor]:
    return {
        "low": ring_mask(size, max(radius - width, 1), radius),
        "high": ring_mask(size, radius, radius + width),
    }


def _templates(mask: torch.Tensor, classes: int, channels: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, U): real and imaginary parts of the ring-limited random images, K×C×H×W, unit rms."""
    size = mask.shape[0]
    spectrum = torch.complex(
        torch.randn(classes, channels, size, size, generator=g, dtype=torch.float64),
        torch.randn(classes, channels, size, size, generator=g, dtype=torch.float64),
    ) * mask
    t = torch.fft.ifft2(torch.fft.ifftshift(spectrum, dim=(-2, -1)))
    real, imag = t.real, t.imag

    def unit(x: torch.Tensor) -> torch.Tensor:
        return x / x.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt().clamp_min(1e-12)

    return unit(real), unit(imag)


def _planted(templates: tuple[torch.Tensor, torch.Tensor], classes: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    real, imag = templates
    n = classes.numel()
    low_a, high_a = AMPLITUDE_JITTER
    amplitude = low_a + (high_a - low_a) * torch.rand(n, 1, 1, 1, generator=g, dtype=torch.float64)
    phase = (2 * torch.rand(n, 1, 1, 1, generator=g, dtype=torch.float64) - 1) * PHASE_JITTER
    return amplitude * (torch.cos(phase) * real[classes] - torch.sin(phase) * imag[classes])


def _background(n: int, channels: int, size: int, g: torch.Generator) -> torch.Tensor:
    f = torch.fft.fftfreq(size, dtype=torch.float64) * size
    distance = torch.sqrt(f.view(-1, 1) ** 2 + f.view(1, -1) ** 2)
    amplitude = 1.0 / distance.clamp_min(1.0)
    amplitude[0, 0] = 0.0  # the mean is drawn separately
    phase = torch.rand(n, channels, size, size, generator=g, dtype=torch.float64) * (2 * math.pi)
    x = torch.fft.ifft2(amplitude * torch.exp(1j * phase)).real
    x = x / x.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt().clamp_min(1e-12)
    offset = torch.randn(n, channels, 1, 1, generator=g, dtype=torch.float64) * 0.5
    return x + offset


def _balanced_labels(n: int, classes: int, g: torch.Generator) -> torch.Tensor:
    return (torch.arange(n) % classes)[torch.randperm(n, generator=g)].to(torch.int64)


def generate(settings: dict | None, image_size: int | None) -> dict:
    """The planted dataset as ``hfc.data.load_dataset`` returns datasets (see module doc)."""
    s = check_settings(settings, image_size)
    size, k, c = int(image_size), s["classes"], s["channels"]
    g = torch.Generator().manual_seed(int(s["seed"]))
    rings = _rings(size, s["radius"], s["width"])
    templates = {band: _templates(rings[band], k, c, g) for band in ("low", "high")}
    none = torch.full((1,), -1, dtype=torch.int64)

    raw, out = {}, {}
    for split in ("train", "test"):
        n = s[f"{split}_size"]
        labels = _balanced_labels(n, k, g)
        x = _background(n, c, size, g)
        evidence = {"low": none.expand(n).clone(), "high": none.expand(n).clone()}
        if s["band"] in ("low", "high"):
            evidence[s["band"]] = labels.clone()
        elif s["band"] == "conflict":
            evidence["low"] = labels.clone()
            evidence["high"] = labels.clone() if split == "train" else (labels + 1) % k
        else:  # none: a hidden class in the low ring, labels drawn independently of it
            evidence["low"] = _balanced_labels(n, k, g)
        for band in ("low", "high"):
            has = evidence[band] >= 0
            if has.any():
                planted = _planted(templates[band], evidence[band].clamp_min(0), g)
                x = x + s["strength"] * planted * has.view(-1, 1, 1, 1)
        raw[split] = x
        out[f"{split}_labels"] = labels
        for band in ("low", "high"):
            out[f"{split}_evidence_{band}"] = evidence[band]
    scale = max(float(x.abs().max()) for x in raw.values())
    for split, x in raw.items():
        out[f"{split}_images"] = torch.round((0.5 + x / (2 * scale)) * 255).to(torch.uint8)
    out["classes"] = [f"class{i}" for i in range(k)]
    out["name"] = "planted"
    described = ", ".join(f"{key}={s[key]}" for key in DEFAULTS)
    out["source"] = f"planted ({described}, image_size={size})"
    return out
