"""bench's verdict on one row: its agreement with the reference against the tolerance of the precision it ran in
(``agreement.TOLERANCES``, the table export verifies with), and, with labelled data, how far its HR MAE is from the
reference's."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edge_rppg.agreement import TOLERANCES, Agreement, Tolerance

PASS = "pass"
FAIL = "fail"
REFERENCE = "reference"  # the row the others are judged against

# What OpenVINO's CPU plugin reports it computed in, as a precision of the tolerance table: an FP32 file run
# under a lower inference precision is judged by that precision's bound, not FP32's.
INFERENCE_PRECISIONS = {"bf16": "bf16", "f16": "fp16"}


def judged_precision(precision: str, details: dict[str, Any]) -> str:
    """The tolerance a row is held to: its file's precision, or the lower one its runtime computed in."""
    ran = INFERENCE_PRECISIONS.get(str(details.get("inference_precision")))
    if precision == "fp32" and ran is not None:
        return ran
    return precision if precision in TOLERANCES else "fp32"


@dataclass(kw_only=True, frozen=True)
class Judgement:
    verdict: str  # PASS | FAIL
    precision: str  # whose tolerance
    tolerance: Tolerance
    violations: tuple[str, ...]

    def tolerance_dict(self) -> dict[str, Any]:
        return {"precision": self.precision, **asdict(self.tolerance)}


def judge(
    precision: str,
    agreement: Agreement | None,
    mae: float | None = None,
    reference_mae: float | None = None,
) -> Judgement:
    """``agreement`` (None: nothing to compare with) against ``TOLERANCES[precision]``; with labels, the row's HR
    MAE may differ from the reference's by no more than the tolerance's per-window HR bound (it cannot, if
    every window holds that bound: a check that the labels were scored alike)."""
    tolerance = TOLERANCES[precision]
    if agreement is None:
        return Judgement(
            verdict=FAIL, precision=precision, tolerance=tolerance, violations=("no reference output to compare with",)
        )
    problems = tolerance.violations(agreement)
    if mae is not None and reference_mae is not None and not abs(mae - reference_mae) <= tolerance.max_hr_diff_bpm:
        problems.append(
            f"HR MAE vs labels {mae:.2f} bpm differs from the reference's {reference_mae:.2f} by more than "
            f"{tolerance.max_hr_diff_bpm:g}"
        )
    return Judgement(
        verdict=FAIL if problems else PASS, precision=precision, tolerance=tolerance, violations=tuple(problems)
    )
