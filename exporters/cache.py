"""Exports made on the user's behalf: ``predict --weights CKPT --runtime openvino`` and ``bench --runtime openvino``
run the checkpoint's export for that runtime, made once, verified like every export, and cached.

An entry is keyed by what makes its bytes: the source's sha256, the precision, the runtime and its version (a new
OpenVINO may convert differently), this package's version and the quality gate the export carries (a model
calibrated after its export was cached gets a new one). Its files are hashed into a manifest beside them; an
entry whose files are missing or no longer match it (a disk fault, a killed copy, a hand edit) is rebuilt rather
than trusted. Two processes that want one entry at once (two cameras on one new checkpoint) take turns on a lock:
the second finds the first one's verified files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import edge_rppg
from edge_rppg.atomic import write_text_atomic
from edge_rppg.exporters.export import TARGETS, Target, export_model
from edge_rppg.gate import digest
from edge_rppg.paths import cache_root, file_sha256
from edge_rppg.runtimes import get_runtime
from edge_rppg.runtimes.metadata import for_model_file

LOCK_NAME = ".lock"


def target_for(runtime: str) -> Target:
    """The export target a runtime runs (ONNX for a runtime without one of its own)."""
    return next((t for t in TARGETS.values() if t.runtime == runtime), TARGETS["onnx"])


def entry_folder(weights: Path, runtime: str, precision: str = "fp32") -> Path:
    """The cache folder of one (source, precision, runtime version) export."""
    version = get_runtime(runtime).version() or "none"
    gate = digest(for_model_file(weights))
    key = f"{target_for(runtime).name}-{precision}-{runtime}-{version}-edge-rppg-{edge_rppg.__version__}-gate-{gate}"
    return cache_root() / "exports" / file_sha256(weights)[:16] / key


def cache_path(weights: Path, runtime: str, precision: str = "fp32") -> Path:
    """Where the cached export's model file is (or will be)."""
    return entry_folder(weights, runtime, precision) / f"model_{precision}{target_for(runtime).suffix}"


def cached_export(
    weights: Path, runtime: str, precision: str = "fp32", on_build: Callable[[Path], None] | None = None
) -> Path:
    """The ``precision`` export of ``weights`` (a checkpoint, or an FP32 ONNX with its reference set) for
    ``runtime``, built and verified once, then reused; ``on_build`` is told the path before a build starts."""
    target = target_for(runtime)
    path = cache_path(weights, runtime, precision)
    manifest = path.with_name(f"{path.name}.sha256.json")
    with _locked(path.parent):
        if not _intact(manifest):
            if on_build is not None:
                on_build(path)
            result = export_model(weights, target.name, precision, path)
            hashes = {Path(f).name: file_sha256(f) for f in result.files}
            write_text_atomic(manifest, json.dumps(hashes, indent=1) + "\n")
    return path


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the entry's lock: one builder at a time, readers wait for a finished entry."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_NAME, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _intact(manifest: Path) -> bool:
    if not manifest.exists():
        return False
    try:
        hashes = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False
    files = {manifest.parent / name: digest for name, digest in hashes.items()}
    return bool(files) and all(f.exists() and file_sha256(f) == digest for f, digest in files.items())
