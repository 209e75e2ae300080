"""Claims beyond the paper from the Fourier heat maps (Yin et al., NeurIPS 2019, §4.2 and Fig. 3):
adversarial training makes a model less sensitive to high-frequency and more sensitive to
low-frequency Fourier basis noise. Judged on M_natural vs M_adversarial (the adversarial study)
with the ring means of :func:`hfc.fourier_heatmap.ring_summary`, less each model's clean error
(the error the noise adds), since M_adversarial starts from a higher clean error."""

from __future__ import annotations

import pandas as pd

from hfc.claims.base import Claim, ClaimInputs, Measure, NotEvaluable, Scale

# As the registry's _SMALL: below this a model has barely left its initialisation.
_SMALL = Scale(train_images=1000, epochs=2)


def _ring_shift(column: str) -> Measure:
    """Per seed: ``column`` (a ring's mean error) of M_adversarial minus that of M_natural."""

    def measure(inputs: ClaimInputs) -> pd.Series:
        frame = inputs.frame("fourier_heatmap")
        runs = {label: inputs.run("adversarial", label) for label in ("natural", "adversarial")}
        per = {}
        for label, run in runs.items():
            rows = frame[frame["model"] == run]
            if rows.empty:
                raise NotEvaluable(f"the Fourier heat maps have no rows for run {run} (M_{label})")
            if rows["eps"].nunique() > 1 or rows.duplicated("seed").any():
                raise ValueError(f"Fourier heat map rings of run {run}: one row per seed expected")
            per[label] = rows.set_index("seed")[column].astype(float)
        both = pd.concat(per, axis=1).dropna()
        if both.empty:
            raise NotEvaluable("M_natural and M_adversarial have no seed in common")
        return (both["adversarial"] - both["natural"]).sort_index()

    return measure


FOURIER_CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="fourier.adversarial_less_high_frequency_sensitive",
        section="§6, beyond the paper: Yin et al. 2019, Fourier heat maps",
        statement="Adversarial training lowers the model's sensitivity to high-frequency Fourier basis noise.",
        metric=(
            "error the basis noise adds (heat map error minus clean error), mean over the high ring "
            "(radius > ½ Nyquist radius), M_adversarial minus M_natural"
        ),
        comparison="<",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("adversarial",),
        inputs=("fourier_heatmap",),
        measure=_ring_shift("high_ring_excess"),
        rationale=(
            "direction only: Yin et al. show heat maps (CIFAR-10, ε = 4), no ring numbers. The clean "
            "error is subtracted because M_adversarial is less accurate on clean images."
        ),
    ),
    Claim(
        id="fourier.adversarial_more_low_frequency_sensitive",
        section="§6, beyond the paper: Yin et al. 2019, Fourier heat maps",
        statement="Adversarial training raises the model's sensitivity to low-frequency Fourier basis noise.",
        metric=(
            "error the basis noise adds (heat map error minus clean error), mean over the low ring "
            "(0 < radius ≤ ¼ Nyquist radius), M_adversarial minus M_natural"
        ),
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("adversarial",),
        inputs=("fourier_heatmap",),
        measure=_ring_shift("low_ring_excess"),
        rationale=(
            "direction only: Yin et al. show heat maps (CIFAR-10, ε = 4), no ring numbers. The clean "
            "error is subtracted because M_adversarial is less accurate on clean images."
        ),
    ),
)
