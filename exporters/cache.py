"""Exports made on the user's behalf: ``predict --weights CKPT --runtime openvino`` runs the checkpoint's export
for that runtime, made once, verified like every export, and cached by the checkpoint's sha256.

The export's files are hashed into a manifest beside them; a cached export whose files are missing or no
longer match it (a disk fault, a killed copy, a hand edit) is rebuilt rather than trusted."""

from __future__ import annotations

import json
from pathlib import Path

from edge_rppg.atomic import write_text_atomic
from edge_rppg.exporters import TARGETS, export_model
from edge_rppg.paths import cache_root, file_sha256


def cached_export(weights: Path, runtime: str) -> Path:
    """The FP32 export of ``weights`` for ``runtime`` (its target; ONNX for a runtime without one), cached."""
    target = next((t for t in TARGETS.values() if t.runtime == runtime), TARGETS["onnx"])
    path = cache_root() / "exports" / file_sha256(weights)[:16] / f"model_fp32{target.suffix}"
    manifest = path.with_name(f"{path.name}.sha256.json")
    if not _intact(manifest):
        result = export_model(weights, target.name, "fp32", path)
        hashes = {Path(f).name: file_sha256(f) for f in result.files}
        write_text_atomic(manifest, json.dumps(hashes, indent=1) + "\n")
    return path


def _intact(manifest: Path) -> bool:
    if not manifest.exists():
        return False
    try:
        hashes = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False
    files = {manifest.parent / name: digest for name, digest in hashes.items()}
    return bool(files) and all(f.exists() and file_sha256(f) == digest for f, digest in files.items())
