"""The registry: every checkable claim of the paper, with its threshold and why."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from hfc.claims.base import Claim, Scale
from hfc.claims.fourier import FOURIER_CLAIMS
from hfc.claims.instrument import INSTRUMENT_CLAIMS
from hfc.claims.measures import (
    _batch_gap,
    _batch_hfc,
    _bn_gain_grows,
    _bn_speeds_lfc,
    _figure3_lfc4,
    _heuristic_vs_vanilla,
    _hfc_share_lost_in_transfer,
    _hfc_trained_above_chance,
    _hfc_within_band,
    _shift_control_transfer_gap,
    _kernels,
    _others_extreme,
    _smoothed_natural_vs_adversarial,
    _smoothing,
    _story_ratio,
    _suite_gain,
    _svd_fewer,
    _table1_gap,
    _vanilla_trend,
)


# Below these a model has barely left its initialisation and none of the paper's comparisons
# means anything (e.g. the tiny test config: 200 images × 2 epochs).
_SMALL = Scale(train_images=1000, epochs=2)
_HFC_CHANCE_MARGIN = 0.10

CLAIMS: tuple[Claim, ...] = (
    *(
        Claim(
            id=f"table1.lfc_beats_hfc.r{r}",
            section="§4.2, Table 1",
            statement=f"A model trained on LFC(r={r}) generalises to the original test set much better than one trained on HFC(r={r}).",
            metric=f"test accuracy of the LFC(r={r})-trained model minus the HFC(r={r})-trained one, original test images",
            comparison=">",
            threshold=0.10,
            min_scale=_SMALL,
            studies=("table1",),
            inputs=("metrics",),
            measure=_table1_gap(r),
            rationale=(
                "paper +0.42 to +0.65; quick trial +0.37/+0.51 at r=12 but either sign at r=4. "
                "A 10-point margin is far above the seed spread of a test accuracy (≈0.01–0.03)."
            ),
        )
        for r in (4, 8, 12, 16)
    ),
    Claim(
        id="table1.hfc_trained_near_chance",
        section="§4.2, Table 1",
        statement="Models trained on HFC(r) for r ≥ 8 are near chance on the original test set.",
        metric="highest test accuracy over the HFC(r)-trained models with r ∈ {8, 12, 16}, minus chance (1/classes)",
        comparison="<",
        threshold=_HFC_CHANCE_MARGIN,
        min_scale=_SMALL,
        studies=("table1",),
        inputs=("metrics",),
        measure=_hfc_trained_above_chance,
        rationale="paper at most 0.028 above chance for r ≥ 8; trial 0.26–0.71 above chance (not near it).",
    ),
    *(
        Claim(
            id=f"table1.hfc_generalises_within_band.r{r}",
            section="§4.2, Table 1 (within band, beyond the paper)",
            statement=(
                f"The HFC(r={r}) of the training images carries label information that generalises: a model "
                f"trained on HFC(r={r}) images is above chance on the HFC(r={r}) of unseen test images."
            ),
            metric=f"test accuracy of the HFC(r={r})-trained model on x_h(r={r}) test images, minus chance",
            comparison=">",
            threshold=0.05,
            min_scale=_SMALL,
            studies=("table1",),
            inputs=("metrics",),
            measure=_hfc_within_band(r),
            rationale=(
                "a model that learned nothing transferable is at chance, whose sampling s.d. on 500 test images is "
                "±0.013: 0.05 is about four of them. CIFAR-10 check: +0.27/+0.26/+0.21/+0.11 at r=4/8/12/16."
            ),
        )
        for r in (4, 8, 12, 16)
    ),
    Claim(
        id="table1.hfc_near_chance_is_transfer_gap",
        section="§4.2, Table 1 (within band, beyond the paper)",
        statement=(
            "The HFC(r)-trained models' low accuracy on the original images (r ≥ 8) is mostly a failure to transfer "
            "to whole images, not a lack of label information: they lose most of their own-band accuracy there."
        ),
        metric=(
            "over r ∈ {8, 12, 16}: mean(own-band − original test accuracy) / mean(own-band test accuracy − chance) "
            "of the HFC(r)-trained models (the share of what they learned that is lost on original images)"
        ),
        comparison=">",
        threshold=0.5,
        min_scale=_SMALL,
        studies=("table1",),
        inputs=("metrics",),
        measure=_hfc_share_lost_in_transfer,
        rationale=(
            "more than half lost = the original-image number mostly measures the transfer gap. Not evaluated when "
            "the models are within 0.05 of chance on their own band (then nothing was there to transfer)."
        ),
    ),
    Claim(
        id="table1.shift_control_has_no_transfer_gap",
        section="§4.2, Table 1 (shift control, beyond the paper)",
        statement=(
            "A model whose label information sits in the HFC(r) only, but which was trained on whole images "
            "(HFC(r) of the image plus LFC(r) of another image), loses no accuracy on the original test images: "
            "once the distribution shift is gone, HFC label information transfers to whole images."
        ),
        metric=(
            "shift control's test accuracy on its own kind of inputs minus on the original test images, mean over "
            "the radii where it learned (own-input accuracy > chance + 0.05)"
        ),
        comparison="<",
        threshold=0.05,
        min_scale=_SMALL,
        studies=("table1", "shift_control"),
        inputs=("metrics",),
        measure=_shift_control_transfer_gap,
        rationale=(
            "Table 1's HFC(r)-trained models lose 0.11–0.21 on the originals (CIFAR-10 check); a gap under 0.05 "
            "(about four sampling s.d. of an accuracy on 500 images) says the control does not. It can fail: the "
            "original image's own LFC, unlike another image's, could mislead it. Radii where the control stayed at "
            "chance on its own inputs are left out (not informative at this budget)."
        ),
    ),
    Claim(
        id="figure3.natural_learns_lfc4_more_than_shuffled",
        section="§4.2, Figure 3",
        statement="M_natural learns far more of the LFC (r=4) of its training images than M_shuffle does.",
        metric="train accuracy on LFC(r=4) training images (the labels each model was trained with), M_natural minus M_shuffle, last epoch",
        comparison=">",
        threshold=0.20,
        min_scale=_SMALL,
        studies=("figure3",),
        inputs=("metrics",),
        measure=_figure3_lfc4,
        rationale="paper ≈ +0.4 and more; trial +0.35 to +0.48. 0.20 is half the smallest trial effect.",
    ),
    Claim(
        id="natural.lfc_accuracy_rises_with_r",
        section="§4.2 / §5.1, Figures 3–5",
        statement="The natural model's accuracy on x_l rises as the radius grows (more of the spectrum kept).",
        metric="vanilla model's test accuracy on x_l at the largest radius minus at the smallest",
        comparison=">",
        threshold=0.05,
        min_scale=_SMALL,
        studies=("heuristics", "figure3", "adversarial"),
        any_study=True,
        inputs=("metrics",),
        measure=_vanilla_trend("low"),
        rationale="trial +0.20 from r=4 to 16 (default run +0.24); 0.05 leaves room for seed spread.",
    ),
    Claim(
        id="natural.hfc_accuracy_falls_with_r",
        section="§4.2 / §5.1, Figures 3–5",
        statement="The natural model's accuracy on x_h falls as the radius grows (less of the spectrum kept).",
        metric="vanilla model's test accuracy on x_h at the largest radius minus at the smallest",
        comparison="<",
        threshold=-0.05,
        min_scale=_SMALL,
        studies=("heuristics", "figure3", "adversarial"),
        any_study=True,
        inputs=("metrics",),
        measure=_vanilla_trend("high"),
        rationale="trial −0.24 to −0.32 from r=4 to 16 (default run −0.26).",
    ),
    *(
        Claim(
            id=f"figure2.story_above_chance.r{r}",
            section="§3.1, Figure 2",
            statement=(
                f"Test images that M_natural gets right on the original and on HFC(r={r}) but wrong on LFC(r={r}) "
                "are more than chance would produce: the HFC carries the prediction."
            ),
            metric=f"Figure 2 count at r={r} divided by the count expected if the three correctness events were independent",
            comparison=">",
            threshold=2.0,
            min_scale=_SMALL,
            studies=("adversarial",),
            inputs=("figure2_count",),
            measure=_story_ratio(r),
            rationale=(
                "the paper shows 8 examples at r=12 without a baseline. Trial: at chance (ratio ≈ 1) at r=12, "
                "6–8× at r=4. Twice the independent expectation is a clear excess."
            ),
        )
        for r in (12, 4)
    ),
    Claim(
        id="figure4.larger_batch_smaller_gap",
        section="§5.1, Figure 4",
        statement="Bigger batches close the generalisation gap (train minus test accuracy).",
        metric="generalisation gap of the smallest batch size minus that of the largest, last epoch",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("batch_size",),
        inputs=("metrics",),
        measure=_batch_gap,
        rationale="direction only: the paper gives no magnitude; at a few epochs every gap is below 0.05.",
    ),
    Claim(
        id="figure4.larger_batch_less_hfc",
        section="§5.1, Figure 4",
        statement="Models trained with bigger batches are more invariant to HFC.",
        metric="test accuracy on x_h (mean over radii) of the smallest batch size minus that of the largest",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("batch_size",),
        inputs=("metrics",),
        measure=_batch_hfc,
        rationale="direction only: the paper gives no magnitude.",
    ),
    Claim(
        id="figure5.mixup_more_hfc",
        section="§5.1, Figure 5",
        statement="Mix-up captures much more HFC than the vanilla set-up.",
        metric="test accuracy on x_h (mean over radii), mix-up minus vanilla",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("heuristics",),
        inputs=("metrics",),
        measure=_heuristic_vs_vanilla("mixup", "high", None),
        rationale="direction only (the paper: 'much more'); default run −0.04, i.e. the other way.",
    ),
    Claim(
        id="figure5.batchnorm_more_hfc",
        section="§5.1, Figure 5",
        statement="BatchNorm picks up more HFC than the vanilla set-up, especially at r = 4 and 8.",
        metric="test accuracy on x_h (mean over r ∈ {4, 8}), BatchNorm minus vanilla",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("heuristics",),
        inputs=("metrics",),
        measure=_heuristic_vs_vanilla("batchnorm", "high", (4, 8)),
        rationale="direction only; trial: smaller than the seed spread.",
    ),
    Claim(
        id="figure5.adversarial_hfc_invariant",
        section="§5.1, Figure 5",
        statement="Adversarial training makes the model invariant to HFC at r = 12 and 16.",
        metric="test accuracy on x_h (mean over r ∈ {12, 16}), adversarially trained minus vanilla",
        comparison="<",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("heuristics",),
        inputs=("metrics",),
        measure=_heuristic_vs_vanilla("adversarial", "high", (12, 16)),
        rationale="direction only: the paper shows flat x_h curves at r ≥ 12 for the adversarial model.",
    ),
    Claim(
        id="figure5.adversarial_lower_accuracy",
        section="§5.1, Figure 5 / §3.2",
        statement="Adversarial training costs clean test accuracy (robustness–accuracy trade-off).",
        metric="test accuracy on original images, adversarially trained minus vanilla",
        comparison="<",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("heuristics",),
        inputs=("metrics",),
        measure=_heuristic_vs_vanilla("adversarial", "original", None),
        rationale="direction only; the paper's Table 2: 0.707 vs 0.856.",
    ),
    Claim(
        id="figure6.batchnorm_speeds_lfc_training",
        section="§5.2, Figure 6",
        statement="Trained on LFC data, BatchNorm still speeds up the convergence of training accuracy.",
        metric="train accuracy (own LFC images) after epoch 1, BatchNorm minus without, mean over radii",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("batchnorm_lfc",),
        inputs=("metrics",),
        measure=_bn_speeds_lfc,
        rationale="direction only: the paper gives no magnitude.",
    ),
    Claim(
        id="figure6.batchnorm_gain_smallest_at_small_r",
        section="§5.2, Figure 6",
        statement="BatchNorm's speed-up on LFC data is smallest at r = 4 (the least HFC-like signal).",
        metric="epoch-1 train-accuracy gain of BatchNorm at the largest radius minus the gain at the smallest",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("batchnorm_lfc",),
        inputs=("metrics",),
        measure=_bn_gain_grows,
        rationale="direction only: the paper gives no magnitude.",
    ),
    Claim(
        id="figure7.adversarial_kernels_smoother",
        section="§6.2, Figure 7",
        statement="The first-layer kernels of M_adversarial are smoother than those of M_natural.",
        metric="adjacent-weight roughness of the first-layer kernels (hfc.smoothing.kernel_smoothness), M_natural minus M_adversarial",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("adversarial",),
        inputs=("kernel_smoothness",),
        measure=_kernels,
        rationale="direction only: the paper shows kernels, no number; i.i.d. weights score 1.41.",
    ),
    Claim(
        id="table2.smoothing_lowers_clean.natural",
        section="§6.3, Table 2",
        statement="Smoothing the first-layer kernels (ρ = 1) lowers M_natural's clean accuracy.",
        metric="clean accuracy of M_natural, ρ = 1 minus ρ = 0",
        comparison="<",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("adversarial",),
        inputs=("attacks",),
        measure=_smoothing("natural", "clean", 0.0),
        rationale="paper −0.225; trial −0.03.",
    ),
    Claim(
        id="table2.smoothing_raises_fgsm.natural",
        section="§6.3, Table 2",
        statement="Smoothing (ρ = 1) raises M_natural's accuracy under FGSM at large ε (0.09).",
        metric="FGSM ε=0.09 accuracy of M_natural, ρ = 1 minus ρ = 0",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("adversarial",),
        inputs=("attacks",),
        measure=_smoothing("natural", "fgsm", 0.09),
        rationale="paper +0.083; trial +0.05 to +0.12 at ε ≥ 0.06.",
    ),
    Claim(
        id="table2.smoothing_raises_pgd.natural",
        section="§6.3, Table 2",
        statement="Smoothing (ρ = 1) raises M_natural's accuracy under PGD at large ε (0.09).",
        metric="PGD ε=0.09 accuracy of M_natural, ρ = 1 minus ρ = 0",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("adversarial",),
        inputs=("attacks",),
        measure=_smoothing("natural", "pgd", 0.09),
        rationale="paper +0.076; trial 0 to +0.03.",
    ),
    Claim(
        id="table2.smoothing_raises_fgsm.adversarial",
        section="§6.3, Table 2",
        statement="Smoothing (ρ = 1) raises M_adversarial's accuracy under FGSM at large ε (0.09).",
        metric="FGSM ε=0.09 accuracy of M_adversarial, ρ = 1 minus ρ = 0",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("adversarial",),
        inputs=("attacks",),
        measure=_smoothing("adversarial", "fgsm", 0.09),
        rationale="paper +0.049 at ε=0.09 (smoothing helps M_adversarial only at larger ε).",
    ),
    Claim(
        id="table2.smoothed_natural_beats_adversarial.pgd",
        section="§6.3, Table 2",
        statement="At ε = 0.09, M_natural smoothed with ρ = 1 withstands PGD better than M_adversarial.",
        metric="PGD ε=0.09 accuracy, M_natural (ρ = 1) minus M_adversarial (ρ = 0)",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("adversarial",),
        inputs=("attacks",),
        measure=_smoothed_natural_vs_adversarial,
        rationale="paper +0.040 (0.078 vs 0.038).",
    ),
    *(
        Claim(
            id=f"table2.smoothing_gain_survives_gradient_free.{label}",
            section="§6.3, Table 2 (issue 12)",
            statement=(
                f"Smoothing (ρ = 1) raises M_{label}'s accuracy at ε = 0.09 also under an attack that uses no "
                "gradients (Square), i.e. the gain is not gradient masking."
            ),
            metric=(
                f"Square-attack ε=0.09 accuracy of M_{label}, ρ = 1 minus ρ = 0 (robustness.suite), Square at its "
                "plateau budget (square_queries >= 5000 there; not evaluated below it)"
            ),
            comparison=">",
            threshold=0.0,
            min_scale=_SMALL,
            studies=("adversarial",),
            inputs=("attack_suite",),
            measure=_suite_gain(label, "square", 0.09),
            rationale=(
                "the paper's gain (+0.08 FGSM for M_natural) came from gradient attacks only; a gain that "
                "a gradient-free attack does not see would be masking (Athalye et al. 2018)."
            ),
        )
        for label in ("natural", "adversarial")
    ),
    *(
        Claim(
            id=f"table2.smoothing_gain_survives_adaptive.{label}",
            section="§6.3, Table 2 (issue 12)",
            statement=(
                f"Smoothing (ρ = 1) raises M_{label}'s accuracy at ε = 0.09 under the worst case of an "
                "AutoAttack-style suite (FGSM, PGD with restarts, APGD-CE, APGD-DLR, Square)."
            ),
            metric=(
                f"ε=0.09 accuracy of M_{label} counting an image only if it withstood every attack of "
                "robustness.suite (row 'ensemble'), ρ = 1 minus ρ = 0"
            ),
            comparison=">",
            threshold=0.0,
            min_scale=_SMALL,
            studies=("adversarial",),
            inputs=("attack_suite",),
            measure=_suite_gain(label, "ensemble", 0.09),
            rationale="direction only, as the Table 2 claims; the strongest evaluation the suite can make.",
        )
        for label in ("natural", "adversarial")
    ),
    Claim(
        id="svd.fewer_story_samples",
        section="§8",
        statement="Splitting images by truncated SVD instead of by frequency finds much fewer Figure 2 images.",
        metric="Figure 2 count rate (count / test images) with the frequency split minus with the SVD split",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("adversarial",),
        inputs=("svd_control",),
        measure=_svd_fewer,
        rationale="direction only: the paper gives no count. The frequency count is itself near chance at r=12 in the trial.",
    ),
    Claim(
        id="optimizer.sgd_most_hfc",
        section="§5.1, other tests",
        statement="SGD is the only optimizer that makes the model capture HFC markedly.",
        metric="test accuracy on x_h (mean over radii), SGD minus the highest of the other optimizers",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("optimizer",),
        inputs=("metrics",),
        measure=_others_extreme("optimizer", "sgd", None, "max"),
        rationale="direction only; default run: SGD has the lowest x_h accuracy, the other way.",
    ),
    Claim(
        id="architecture.resnet_least_hfc",
        section="§5.1, other tests",
        statement="ResNet captures less HFC than LeNet, AlexNet and VGG.",
        metric="test accuracy on x_h (mean over radii), ResNet-18 minus the lowest of LeNet, AlexNet, VGG",
        comparison="<",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("architecture",),
        inputs=("metrics",),
        measure=_others_extreme("architecture", "resnet18", ("lenet", "alexnet", "vgg"), "min"),
        rationale="direction only: the paper gives no magnitude.",
    ),
    *FOURIER_CLAIMS,
    *INSTRUMENT_CLAIMS,  # beyond the paper: known-answer checks on planted data
)
CLAIM_IDS = tuple(c.id for c in CLAIMS)
if len(set(CLAIM_IDS)) != len(CLAIM_IDS):  # pragma: no cover - guards edits of the registry
    raise RuntimeError("duplicated claim id in hfc.claims.CLAIMS")


def get_claim(claim_id: str) -> Claim:
    for claim in CLAIMS:
        if claim.id == claim_id:
            return claim
    raise KeyError(f"unknown claim {claim_id!r}; known claims: {', '.join(CLAIM_IDS)}")


def check_claim_ids(ids: Sequence[str], where: str = "claims.expected_supported") -> list[str]:
    """Return ``ids`` as a list, or raise ValueError naming any id not in the registry."""
    if isinstance(ids, str) or not isinstance(ids, Sequence):
        raise ValueError(f"{where} must be a list of claim ids, got {ids!r}")
    unknown = [i for i in ids if i not in CLAIM_IDS]
    if unknown:
        raise ValueError(f"{where}: unknown claim id(s) {unknown}; known claims: {', '.join(CLAIM_IDS)}")
    return list(ids)


# Table 1 claims whose radius is in the id (table1.<name>.r<N>), and those that read r ∈ {8, 12, 16}.
_TABLE1_RADIUS_ID = re.compile(r"^table1\.[a-z_]+\.r(\d+)$")
_TABLE1_ANY_OF = {
    "table1.hfc_trained_near_chance": ("table1",),
    "table1.hfc_near_chance_is_transfer_gap": ("table1",),
}


def check_expected_radii(
    ids: Sequence[str], study_runs: Mapping[str, Mapping[str, str]], where: str = "claims.expected_supported"
) -> None:
    """ValueError naming ``where`` when an expected Table 1 claim needs a radius no study trains.

    ``study_runs`` is ``{study: {variant label: run}}`` (hfc.grid.study_runs of each study):
    a claim on r = N needs ``high r=N`` in studies.table1 (and in studies.shift_control for the
    control's claim), so the config is refused before any job instead of reporting the claim
    "not evaluated" after the whole run.
    """
    def trained(study: str) -> list[int]:
        return sorted({int(label.split("r=")[1]) for label in (study_runs.get(study) or {}) if label.startswith("high r=")})

    for claim_id in ids:
        match = _TABLE1_RADIUS_ID.match(claim_id)
        if match:
            radius = int(match.group(1))
            if radius not in trained("table1"):
                raise ValueError(
                    f"{where} lists {claim_id}, but studies.table1 trains no model at r={radius} (it trains r ∈ "
                    f"{trained('table1') or 'none: the study is off'}); add {radius} to frequency.radii and "
                    "studies.table1, or drop the claim"
                )
        if claim_id == "table1.shift_control_has_no_transfer_gap" and not trained("shift_control"):
            raise ValueError(
                f"{where} lists {claim_id}, but studies.shift_control trains no model (the study is off); "
                "turn it on (true, or a list of radii) or drop the claim"
            )
        for study in _TABLE1_ANY_OF.get(claim_id, ()):
            if not set(trained(study)) & {8, 12, 16}:
                raise ValueError(
                    f"{where} lists {claim_id}, which reads r ∈ {{8, 12, 16}}, but studies.{study} trains "
                    f"{'r ∈ ' + str(trained(study)) if trained(study) else 'no model (the study is off)'}; "
                    f"turn on studies.{study} with one of those radii, or drop the claim"
                )
