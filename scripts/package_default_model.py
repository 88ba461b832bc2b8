"""Package the bundled default model from a `edge-rppg train --preset default-model` run.

Scores the run's best checkpoint on held-out synthetic subjects (another seed than training, half of them
hard) and writes ``edge_rppg/assets/default_model.pt`` with its provenance: the command, the generator
version and seed, the recipe, and the held-out metrics. ``edge-rppg info --weights default`` shows them.

    python scripts/package_default_model.py runs/default-model [--held-out-subjects 10]
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
from pathlib import Path

from edge_rppg.data.synthetic import GENERATOR_VERSION, write_synthetic_ubfc
from edge_rppg.evaluate import evaluate_dataset
from edge_rppg.hr import HrMethod
from edge_rppg.models.checkpoints import load_checkpoint, save_checkpoint
from edge_rppg.run_dir import best_checkpoint
from edge_rppg.weights import DEFAULT_MODEL

HELD_OUT_SEED = 101


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--held-out-subjects", type=int, default=10)
    ap.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    args = ap.parse_args()
    best = best_checkpoint(args.run)
    model, info = load_checkpoint(best)
    cfg = info.train_config
    if cfg.get("preset") != "default-model":
        raise SystemExit(f"{best}: not trained with --preset default-model")
    with tempfile.TemporaryDirectory() as tmp:
        data = write_synthetic_ubfc(Path(tmp) / "held-out", args.held_out_subjects, 20.0, seed=HELD_OUT_SEED, hard=0.5)
        report = evaluate_dataset(data, "ubfc-rppg", best, hr_method=HrMethod.FFT_FINE, log=lambda _m: None)
    o = report.overall
    provenance = {
        "command": "edge-rppg train --preset default-model",
        "generator_version": GENERATOR_VERSION,
        "seed": cfg["seed"],
        "data": info.trained_on,
        "recipe": {
            k: cfg[k]
            for k in (
                "arch",
                "epochs",
                "batch_size",
                "lr",
                "fsam",
                "loss",
                "synthetic_subjects",
                "synthetic_seconds",
                "synthetic_hard",
            )
        },
        "validation": info.metrics,
        "held_out": {
            "subjects": args.held_out_subjects,
            "seconds": 20.0,
            "seed": HELD_OUT_SEED,
            "hard": 0.5,
            "hr_method": "fft-fine",
            "mae_bpm": round(o.mae, 3),
            "rmse_bpm": round(o.rmse, 3),
            "pearson": round(o.pearson, 4),
            "snr_db": round(o.snr, 2),
        },
        "packaged": datetime.date.today().isoformat(),
        "licence": "Apache-2.0 (trained by edge-rppg on its own synthetic data only)",
        "caveat": "synthetic faces only: accuracy on real faces has not been measured on a real dataset; not a "
        "medical device",
    }
    save_checkpoint(
        args.out,
        model,
        train_config={**cfg, "provenance": provenance},
        metrics=info.metrics,
        trained_on=info.trained_on,
    )
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} KB); held-out MAE {o.mae:.2f} bpm, RMSE "
        f"{o.rmse:.2f}, r {o.pearson:.3f}"
    )


if __name__ == "__main__":
    main()
