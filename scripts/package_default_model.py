"""Package the bundled default model from a `edge-rppg train --preset default-model` run.

Scores the run's best checkpoint on held-out synthetic subjects (another seed than training, half of them
hard) and writes ``edge_rppg/assets/default_model.pt`` with its provenance: the command, the generator
version and seed, the recipe, and the held-out metrics. ``edge-rppg info --weights default`` shows them.

It then exports that checkpoint to ``default_model.onnx`` beside it, verified against PyTorch like every
export, so that a slim install (no PyTorch) predicts with the same model. The reference set the export
writes is not shipped (7-8 MB); ``export --from`` and ``bench`` start from an ONNX the user exported.

    python scripts/package_default_model.py runs/default-model [--held-out-subjects 10]
    python scripts/package_default_model.py --onnx-only      # re-export the ONNX from the shipped .pt
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
from pathlib import Path

from edge_rppg.data.synthetic import GENERATOR_VERSION, write_synthetic_ubfc
from edge_rppg.evaluate import evaluate_dataset
from edge_rppg.exporters import export_model
from edge_rppg.models.checkpoints import load_checkpoint, save_checkpoint
from edge_rppg.reference_set import path_for
from edge_rppg.run_dir import best_checkpoint
from edge_rppg.signals.hr import HrMethod
from edge_rppg.weights import DEFAULT_MODEL

HELD_OUT_SEED = 101


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path, nargs="?")
    ap.add_argument("--held-out-subjects", type=int, default=10)
    ap.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--onnx-only", action="store_true", help="only re-export the ONNX from --out")
    args = ap.parse_args()
    if not args.onnx_only:
        if args.run is None:
            ap.error("give the run folder, or --onnx-only")
        package(args.run, args.out, args.held_out_subjects)
    write_onnx(args.out, args.out.with_suffix(".onnx"))


def write_onnx(checkpoint: Path, out: Path) -> None:
    result = export_model(checkpoint, "onnx", "fp32", out)  # verified against PyTorch before it is moved in
    path_for(out).unlink()
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} KB); {result.verification}")


def package(run: Path, out: Path, held_out_subjects: int) -> None:
    best = best_checkpoint(run)
    model, info = load_checkpoint(best)
    cfg = info.train_config
    if cfg.get("preset") != "default-model":
        raise SystemExit(f"{best}: not trained with --preset default-model")
    with tempfile.TemporaryDirectory() as tmp:
        data = write_synthetic_ubfc(Path(tmp) / "held-out", held_out_subjects, 20.0, seed=HELD_OUT_SEED, hard=0.5)
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
            "subjects": held_out_subjects,
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
        out,
        model,
        train_config={**cfg, "provenance": provenance},
        metrics=info.metrics,
        trained_on=info.trained_on,
    )
    print(
        f"wrote {out} ({out.stat().st_size / 1e3:.0f} KB); held-out MAE {o.mae:.2f} bpm, RMSE "
        f"{o.rmse:.2f}, r {o.pearson:.3f}"
    )


if __name__ == "__main__":
    main()
