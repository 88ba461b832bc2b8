"""EfficientPhys + FSAM: the paper's intended FSAM (factorise each 20-frame segment on every call) against
the reference's steady state (identity NMF after the first call), trained alike and scored on held-out
synthetic subjects. The segment-trained model is also scored in the steady state, to see whether its
NMF can be dropped for deployment.

    python -m benchmarks.efficientphys_fsam_modes [--subjects 12] [--seconds 20] [--epochs 6] [--out runs/ep-modes]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from edge_rppg.data.synthetic import write_synthetic_ubfc
from edge_rppg.evaluate import evaluate_dataset
from edge_rppg.models.checkpoints import load_checkpoint, save_checkpoint
from edge_rppg.signals.hr import HrMethod
from edge_rppg.train.config import TrainConfig
from edge_rppg.train.loop import train


def _score(weights: Path, held_out: Path) -> dict[str, float]:
    o = evaluate_dataset(held_out, "ubfc-rppg", weights, hr_method=HrMethod.FFT_FINE, log=lambda _m: None).overall
    return {
        "mae_bpm": round(o.mae, 2),
        "rmse_bpm": round(o.rmse, 2),
        "pearson": round(o.pearson, 3),
        "snr_db": round(o.snr, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--out", type=Path, default=Path("runs/ep-modes"))
    ap.add_argument("--modes", nargs="+", default=["steady", "segment"])
    args = ap.parse_args()
    held_out = write_synthetic_ubfc(args.out / "held-out", subjects=6, seconds=20.0, seed=101, hard=0.5)
    scores: dict[str, dict[str, float]] = {}
    for mode in args.modes:
        cfg = TrainConfig(
            arch="efficientphys",
            fsam_mode=mode,
            epochs=args.epochs,
            synthetic_subjects=args.subjects,
            synthetic_seconds=args.seconds,
            synthetic_hard=0.5,
            out=args.out / mode,
            val_split=(0.8, 1.0),
        )
        result = train(cfg, log=lambda m: print(m, flush=True))
        scores[f"trained {mode}, run {mode}"] = _score(result.best, held_out)
        if mode == "segment":
            model, info = load_checkpoint(result.best)
            steady = type(model)(replace(model.config, fsam_mode="steady"))  # type: ignore[arg-type]
            steady.load_state_dict(model.state_dict())
            path = args.out / "segment-as-steady.pt"
            save_checkpoint(path, steady, trained_on=info.trained_on)
            scores["trained segment, run steady"] = _score(path, held_out)
        print(json.dumps(scores, indent=2), flush=True)
    (args.out / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")


if __name__ == "__main__":
    main()
