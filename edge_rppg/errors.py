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


class ExportError(EdgeRppgError):
    """An export could not be made, or disagrees with the PyTorch reference."""


class DiskFull(EdgeRppgError):
    """An output could not be written for want of space; nothing of it was left behind."""


class RuntimeUnavailable(EdgeRppgError):
    """A runtime cannot run here (package missing, no GPU); the message says why."""


class TrainingError(EdgeRppgError):
    """Training cannot go on (a non-finite loss) or would overwrite a finished run."""
