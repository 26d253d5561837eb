"""Typed exceptions of the library. The CLI turns them into one-line messages and exit codes."""


class FdikpError(Exception):
    """Base class of every error the library raises on purpose."""


class WeightsError(FdikpError):
    """A weights file is missing, truncated, foreign, or does not fit the model."""


class ImageReadError(FdikpError):
    """An input image cannot be read (corrupt, truncated, not an image, too large)."""


class ImageWriteError(FdikpError):
    """An output image cannot be written."""


class OutputWriteError(FdikpError):
    """An output cannot be written where it was asked: its folder is read-only or is not a
    folder, a folder stands where the file goes, the disk is full."""


class DeviceError(FdikpError):
    """The asked device or precision is not there on this machine (no CUDA, fewer GPUs, no
    MPS, no bfloat16): a failure of the machine, not of the command line (exit 1, as for a
    file that cannot be read), though the same option elsewhere would run."""


class OutputExistsError(FdikpError):
    """An output file exists and replacing it was not asked for (--overwrite)."""


class DatasetError(FdikpError):
    """A dataset folder is missing, empty, or its pairs do not match."""


class ConfigError(FdikpError):
    """A configuration value or file is invalid: a usage error (the CLI exits 2, as for the
    values its option parser rejects)."""


class LpipsWeightsMissing(FdikpError):
    """LPIPS weights cannot be found or downloaded."""


class TrainingDiverged(FdikpError):
    """The training loss became NaN or infinite."""


class InferenceError(FdikpError):
    """The model cannot run on an image (out of memory even at the smallest tile)."""
