"""The paper's checkable claims, each measured per seed and given a verdict.

A :class:`Claim` names a statement of Wang et al. (2020), the number that tests it (measured
once per training seed from the pipeline's per-seed outputs), a comparison with a threshold,
the studies and inputs it needs, and the smallest scale at which the test means anything.
:data:`CLAIMS` is the registry; :func:`evaluate_claims` turns a :class:`ClaimInputs` into one
row per claim.

Verdict rule (docs/claims.md). With n >= ``min_seeds`` finite per-seed values, the 95 %
Student-t interval of their mean is mean ± t(0.975, n-1)·s/√n. A claim is

- ``supported`` when the whole interval lies beyond the threshold in the claimed direction
  (its lower end above the threshold for ``>``, its upper end below it for ``<``);
- ``not supported`` otherwise: the reason says whether the interval straddles the threshold
  (inconclusive at this seed count) or lies wholly on the wrong side (contradicted);
- ``not evaluated`` when a study it needs is off, an input is missing, the run is below the
  claim's minimum scale, a radius / ε / ρ it needs was not run, or fewer than ``min_seeds``
  seeds were measured (the mean is still shown).

The interval is over training seeds on a fixed evaluation subset: it says how much the
number moves when the network is trained again, not how it would move on other test images.

:func:`paper_vs_reproduced` puts every number of the paper's Tables 1 and 2 beside ours.
"""

from __future__ import annotations

from hfc.claims.base import (
    CLAIM_COLUMNS,
    INPUT_KINDS,
    NOT_EVALUATED,
    NOT_SUPPORTED,
    SUPPORTED,
    VERDICTS,
    Claim,
    ClaimInputs,
    NotEvaluable,
    Scale,
)
from hfc.claims.paper_tables import PAPER_COLUMNS, paper_vs_reproduced, paper_vs_reproduced_markdown
from hfc.claims.registry import CLAIM_IDS, CLAIMS, check_claim_ids, check_expected_radii, get_claim
from hfc.claims.verdicts import claims_markdown, evaluate_claim, evaluate_claims, interval

__all__ = [
    "Scale",
    "Claim",
    "ClaimInputs",
    "NotEvaluable",
    "CLAIMS",
    "CLAIM_IDS",
    "CLAIM_COLUMNS",
    "VERDICTS",
    "SUPPORTED",
    "NOT_SUPPORTED",
    "NOT_EVALUATED",
    "INPUT_KINDS",
    "get_claim",
    "check_claim_ids",
    "check_expected_radii",
    "interval",
    "evaluate_claim",
    "evaluate_claims",
    "claims_markdown",
    "PAPER_COLUMNS",
    "paper_vs_reproduced",
    "paper_vs_reproduced_markdown",
]
