"""Atomic artefact writes: a crash or a kill never leaves a half-written checkpoint, engine or report."""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Every staging file or folder this module makes is named ``.<target name>.edge-rppg-<pid>-<random>``: nothing
# else matches it, and its maker's pid says whether it is still being written.
STAGING_MARK = "edge-rppg"


def staging_prefix(target: Path) -> str:
    """The start of a staging name for ``target`` made by this process (tempfile adds the random part)."""
    return f".{target.name}.{STAGING_MARK}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def sweep_staging(target: Path) -> None:
    """Remove what a killed earlier write of ``target`` left beside it: only staging names this module made
    (``staging_prefix``), and only those whose writer is no longer running. A user's ``.<name>.bak`` and a live
    writer's staging folder are never touched."""
    import shutil

    if not target.parent.is_dir():
        return
    for stale in target.parent.glob(f".{glob.escape(target.name)}.{STAGING_MARK}-*-*"):
        pid = stale.name[len(f".{target.name}.{STAGING_MARK}-") :].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


# Writes that fail because the disk (or the process's file-size limit) has no room.
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# torch's zip writer, ONNX and OpenVINO report a full disk as their own RuntimeError, without an errno;
# a failed write on a file system with less free than this is taken to be that.
NEARLY_FULL_BYTES = 1 << 20


def _free_bytes(folder: Path) -> int:
    try:
        st = os.statvfs(folder)
    except OSError:
        return NEARLY_FULL_BYTES
    return st.f_bavail * st.f_frsize


@contextlib.contextmanager
def no_room_is_one_line(target: Path) -> Iterator[None]:
    """A write into ``target``'s folder that fails for want of space becomes one error naming ``target``.

    Must wrap the write while its staging file still exists: once that is removed the disk has room again."""
    from edge_rppg.errors import DiskFull, EdgeRppgError

    try:
        yield
    except OSError as exc:
        if exc.errno not in _NO_ROOM:
            raise
        raise DiskFull(f"{target}: {os.strerror(exc.errno).lower()}; nothing written") from None
    except EdgeRppgError:
        raise
    except Exception:
        free = _free_bytes(target.parent)
        if free >= NEARLY_FULL_BYTES:
            raise
        raise DiskFull(f"{target}: no space left on device ({free // 1024} KiB free); nothing written") from None


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_staging(target)
    fd, tmp = tempfile.mkstemp(prefix=staging_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with no_room_is_one_line(target):
            yield tmp_path
        # mkstemp creates 0600; give the artefact the permissions a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(target, text.encode())


def save_figure(fig: object, target: str | os.PathLike[str], dpi: int = 100) -> None:
    """Save a matplotlib figure atomically and close it."""
    import matplotlib.pyplot as plt

    target = Path(target)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=dpi, format=target.suffix.lstrip(".") or "png")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]


def check_writable(target: str | os.PathLike[str], suffixes: tuple[str, ...] | None = None) -> None:
    """Fail before any work when an output could not be written at the end: a folder in its place, a
    read-only or missing parent, a suffix the writer does not make."""
    from edge_rppg.errors import EdgeRppgError

    target = Path(target)
    if target.is_dir():
        raise EdgeRppgError(f"{target}: is a folder; give a file name")
    if suffixes is not None and target.suffix.lower() not in suffixes:
        raise EdgeRppgError(
            f"{target}: written as {', '.join(suffixes)}, not {target.suffix or 'a file without suffix'}"
        )
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise EdgeRppgError(f"{target}: cannot write there ({parent} is not a writable folder)")
    if target.exists() and not target.is_file():  # a device, a pipe, a socket: renaming over it would replace it
        raise EdgeRppgError(f"{target}: is not a regular file (a device, pipe or socket); give a file name")
    if target.exists() and not os.access(target, os.W_OK):
        raise EdgeRppgError(f"{target}: is read-only")


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:
        return False


def check_distinct(outputs: dict[str, Path], inputs: list[Path]) -> None:
    """Fail before any work when one output would overwrite another output of the same command, or an input
    (``--json v.avi`` for the video ``v.avi``, ``export --from m.onnx --out m.onnx``)."""
    from edge_rppg.errors import EdgeRppgError

    named = list(outputs.items())
    for i, (kind, path) in enumerate(named):
        for other_kind, other in named[:i]:
            if _same_file(path, other):
                raise EdgeRppgError(f"{path}: given as both {other_kind} and {kind}; each output needs its own file")
        for source in inputs:
            if _same_file(path, source):
                raise EdgeRppgError(f"{path}: is an input of this command; writing {kind} there would replace it")
