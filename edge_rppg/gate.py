"""The quality gate of one model: which segments of its BVP are trusted, when a clip gets a heart rate, and how
sure each answer is.

A gate belongs to a model, not to the code: thresholds fitted on one model's outputs let another model's
pulseless clips through (the authors' checkpoints got an HR for 3-5 of 8 under the bundled model's). Each gate is
fitted on labelled clips (``edge-rppg calibrate``, ``edge_rppg.calibration``) and found, in this order:

- beside the checkpoint, ``<checkpoint>.gate.json`` (what ``calibrate`` writes for a user's own model);
- shipped in the package for the bundled model, the classic methods and the authors' checkpoints it has fitted,
  by the checkpoint's sha256 (``assets/gates/``);
- inside an exported model's metadata (``GATE_KEY``): every export carries its checkpoint's gate.

A model without one runs under ``UNCALIBRATED``: stricter than any fitted gate, no confidence, and it says so.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from edge_rppg.errors import EdgeRppgError

FORMAT = "edge-rppg-gate/1"
GATE_KEY = "quality_gate"  # the exported model's metadata field that holds its gate (JSON)
SUFFIX = ".gate.json"
METHOD_PREFIX = "method:"  # a classic method's gate is keyed by its name: it has no weights
CONFIDENCE_WITHIN_BPM = 5.0  # a window's confidence is the chance that its HR is this close to the truth
MIN_PASSING_WINDOWS = 3  # a clip HR needs at least this many passing windows, whatever the gate's share
WITNESS_AGREE_BPM = 5.0  # the deep HR and POS's on the same crops agree within this


class GateError(EdgeRppgError):
    """A gate file that is not one, or belongs to another model."""


@dataclass(kw_only=True, frozen=True)
class Gate:
    """What one model's BVP must show to be trusted.

    A segment's SQI (the geometric mean of its SNR, FFT-beat agreement and periodicity scores, the SNR counted
    within ``snr_half_width_hz`` of the peak) is scaled by the POS witness when ``witness`` (a deep model only:
    a classic method reads the same RGB trace as POS does); it passes at ``sqi_min`` with the face moving less
    than ``motion_max`` face widths per second and no more than ``light_share_max`` of the background light's
    HR-band power at its rate (a line the background shows is the light's, not a pulse). A clip gets an HR when
    ``pass_fraction`` of its windows pass.
    ``confidence`` maps a passing segment's SQI to the share of such segments within CONFIDENCE_WITHIN_BPM of
    the truth on the data it was fitted on (knots of a monotone fit); empty when nothing was fitted.
    ``answer_confidence`` maps a clip's answer, by the mean of its passing segments' confidences, to the share of
    such answers within CONFIDENCE_WITHIN_BPM there: the median of many segments is right more often than one
    segment is (on the held-out half, 9 of 9 answers were right at a mean segment confidence of 0.61). Empty: the
    answer's confidence is that mean, as before answers had their own map."""

    sqi_min: float
    snr_half_width_hz: float
    pass_fraction: float
    witness_disagree_factor: float
    witness_agree_factor: float
    motion_max: float
    light_share_max: float = 1.01  # a segment whose rate holds more of the background's light than this fails
    witness: bool = True
    peak_candidates: int = 2
    confidence: tuple[tuple[float, float], ...] = ()
    answer_confidence: tuple[tuple[float, float], ...] = ()
    model: str = ""  # the checkpoint's sha256, or METHOD_PREFIX + a method's name
    fitted_on: dict[str, Any] = field(default_factory=dict)  # what it was fitted on, and how it did there

    @property
    def calibrated(self) -> bool:
        return bool(self.fitted_on)

    def label(self) -> str:
        if not self.calibrated:
            return "uncalibrated (strict default gate; fit one with edge-rppg calibrate)"
        f = self.fitted_on
        return f"calibrated on {f.get('clips', '?')} clips of {f.get('data', '?')}"

    def window_sqi(self, own: float, hr: float, witness_hr: float | None) -> float:
        """A segment's SQI after its witness: raised when POS reads the same rate, lowered when it does not."""
        if not self.witness or witness_hr is None or not np.isfinite(witness_hr):
            return own
        agrees = abs(hr - witness_hr) <= WITNESS_AGREE_BPM
        return min(1.0, own * (self.witness_agree_factor if agrees else self.witness_disagree_factor))

    def windows_needed(self, windows: int) -> int:
        return max(MIN_PASSING_WINDOWS, int(np.ceil(self.pass_fraction * windows)))

    def confidence_of(self, sqi: float) -> float | None:
        """The fitted chance that a passing segment of this SQI reads the HR within CONFIDENCE_WITHIN_BPM."""
        if not self.confidence:
            return None
        x, p = zip(*self.confidence, strict=True)
        return round(float(np.interp(sqi, x, p)), 3)

    def confidence_of_answer(self, segment_confidences: list[float]) -> float | None:
        """The fitted chance that an answer from passing segments of these confidences is within
        CONFIDENCE_WITHIN_BPM (their mean where no map for answers was fitted)."""
        if not segment_confidences:
            return None
        mean = float(np.mean(segment_confidences))
        if not self.answer_confidence:
            return round(mean, 3)
        x, p = zip(*self.answer_confidence, strict=True)
        return round(float(np.interp(mean, x, p)), 3)

    def for_model(self, model: str) -> Gate:
        return replace(self, model=model)

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> Gate:
        try:
            d = json.loads(text)
            if d.pop("format", None) != FORMAT:
                raise ValueError(f"not an {FORMAT} file")
            for key in ("confidence", "answer_confidence"):
                d[key] = tuple((float(s), float(p)) for s, p in d.get(key, ()))
            gate = cls(**d)
        except (ValueError, TypeError) as exc:
            raise GateError(f"{where}: not a quality gate ({exc})") from None
        _check_numbers(gate, where)
        return gate


def _check_numbers(gate: Gate, where: str) -> None:
    numbers = (gate.sqi_min, gate.snr_half_width_hz, gate.pass_fraction, gate.motion_max, gate.light_share_max)
    if not all(isinstance(v, int | float) and np.isfinite(v) and v >= 0 for v in numbers):
        raise GateError(f"{where}: a quality gate's thresholds must be finite and not negative")
    knots = [v for knot in gate.confidence + gate.answer_confidence for v in knot]
    if not all(np.isfinite(v) and 0.0 <= v <= 1.0 for v in knots):
        raise GateError(f"{where}: a quality gate's confidence maps must hold numbers within [0, 1]")


# No data behind it: stricter than every gate fitted so far on every model (README, "quality gate").
UNCALIBRATED = Gate(
    sqi_min=0.75,
    snr_half_width_hz=0.3,
    pass_fraction=0.5,
    witness_disagree_factor=0.5,
    witness_agree_factor=1.0,
    motion_max=0.5,
    light_share_max=0.5,
)
UNCALIBRATED_METHOD = replace(UNCALIBRATED, witness=False, peak_candidates=1)


def sidecar_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + SUFFIX)


def shipped_name(key: str) -> str:
    """The name of a shipped gate's file (``assets/gates/``): a method's name, or its checkpoint's sha256 cut."""
    return key.removeprefix(METHOD_PREFIX) if key.startswith(METHOD_PREFIX) else key[:16]


def _shipped(key: str) -> Gate | None:
    name = shipped_name(key)
    entry = resources.files("edge_rppg") / "assets" / "gates" / f"{name}.json"
    return Gate.from_json(entry.read_text(), f"edge_rppg/assets/gates/{name}.json") if entry.is_file() else None


def _checked(gate: Gate, model: str, where: str) -> Gate:
    if gate.model and gate.model != model:
        raise GateError(f"{where}: this quality gate was fitted for another model ({gate.model[:16]}...)")
    return gate.for_model(model)


def for_checkpoint(checkpoint: Path, sha256: str) -> Gate:
    """The checkpoint's own gate (its sidecar), else the one shipped for it, else UNCALIBRATED."""
    sidecar = sidecar_path(checkpoint)
    if sidecar.is_file():
        return _checked(Gate.from_json(sidecar.read_text(), str(sidecar)), sha256, str(sidecar))
    return _shipped(sha256) or UNCALIBRATED.for_model(sha256)


def for_exported(model_file: Path, metadata: dict[str, str]) -> Gate:
    """The gate an export carries, else the one shipped for its source checkpoint, else UNCALIBRATED."""
    source = metadata.get("source_sha256", "")
    if GATE_KEY in metadata:
        return _checked(Gate.from_json(metadata[GATE_KEY], f"{model_file} ({GATE_KEY})"), source, str(model_file))
    return (_shipped(source) if source else None) or UNCALIBRATED.for_model(source)


def for_method(method: str) -> Gate:
    key = METHOD_PREFIX + method
    return _shipped(key) or UNCALIBRATED_METHOD.for_model(key)


def digest(gate: Gate) -> str:
    """A short name for a gate's content: an export cached under one gate is not reused under another."""
    import hashlib

    return hashlib.sha256(gate.to_json().encode()).hexdigest()[:12]
