"""Where edge-rppg keeps what it can rebuild: one cache root (EDGE_RPPG_CACHE), checked where it is used."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from edge_rppg.errors import EdgeRppgError

CACHE_ENV = "EDGE_RPPG_CACHE"


def cache_root() -> Path:
    """The cache folder, created if needed; a regular file or a read-only folder there is a one-line error."""
    root = Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "edge-rppg"))
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgeRppgError(f"{root}: the cache ({CACHE_ENV}) cannot be a folder here ({exc.strerror})") from None
    if not root.is_dir():
        raise EdgeRppgError(f"{root}: the cache ({CACHE_ENV}) is a file, not a folder")
    if not os.access(root, os.W_OK | os.X_OK):
        raise EdgeRppgError(f"{root}: the cache ({CACHE_ENV}) is not writable; point {CACHE_ENV} elsewhere")
    return root


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file, read in 1-MiB blocks (checkpoints, weights, cached exports)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_sha256(path: Path) -> str:
    """A model's identity: its file, and an OpenVINO IR's weights beside it."""
    digest = file_sha256(path)
    if path.suffix == ".xml" and path.with_suffix(".bin").exists():
        digest = hashlib.sha256((digest + file_sha256(path.with_suffix(".bin"))).encode()).hexdigest()
    return digest
