"""Inference: running the model on images of any size (device, precision, tiling), and on files.

    from fdikp_cli.inference import restore, run_deblur, DeblurOptions
    y = restore(model, x, tile=1024, overlap=64)             # tensors: (B, 3, H, W) in [0, 1]
    summary = run_deblur(["photos/"], DeblurOptions(recursive=True))   # files, as `fdikp deblur`
"""

from fdikp_cli.inference.batch import BatchSummary, DeblurOptions, Engine, FileResult, deblur_files, run_deblur
from fdikp_cli.inference.restore import RestoreResult, restore, restore_auto, restore_detailed

__all__ = [
    "BatchSummary",
    "DeblurOptions",
    "Engine",
    "FileResult",
    "RestoreResult",
    "deblur_files",
    "restore",
    "restore_auto",
    "restore_detailed",
    "run_deblur",
]
