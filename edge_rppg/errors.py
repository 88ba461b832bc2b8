"""User-facing errors: one line, printed by the CLI without a traceback."""

from __future__ import annotations


class EdgeRppgError(Exception):
    """Base class of every error caused by the user's input or environment."""


class CheckpointError(EdgeRppgError):
    """A weights file is unreadable or is not a FactorizePhys checkpoint."""


class DatasetError(EdgeRppgError):
    """A dataset folder does not have the layout its reader expects."""


class VideoError(EdgeRppgError):
    """A video cannot be read, is too short, or shows no face."""


class InputEndedEarly(VideoError):
    """A file's frames ended before the count its header declares: what came before is read and said to be short."""


class StageFailed(EdgeRppgError):
    """A stage of predict's pipeline (decode, crop, inference, writing) failed or did not end in time."""

    @classmethod
    def of(cls, source: object, stage: str, exc: BaseException) -> StageFailed:
        """One line naming the file, the stage and the first line of what went wrong there."""
        first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        return cls(f"{source}: {stage} failed ({first})")


class ExportError(EdgeRppgError):
    """An export could not be made, or disagrees with the PyTorch reference."""


class DiskFull(EdgeRppgError):
    """An output could not be written for want of space; nothing of it was left behind."""


class RuntimeUnavailable(EdgeRppgError):
    """A runtime cannot run here (package missing, no GPU); the message says why."""


class TrainingError(EdgeRppgError):
    """Training cannot go on (a non-finite loss) or would overwrite a finished run."""
