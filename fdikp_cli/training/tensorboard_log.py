"""TensorBoard event files in the run folder, so that training can be watched:

    tensorboard --logdir runs/          # one TensorBoard run per training run folder

Scalars: `train/*` every `log_every` steps, the same numbers as train_log.csv (means over the
steps since the previous row: loss and its terms, gradient norm, learning rate, img/s);
`val/*` at each validation, the output's PSNR, SSIM, detail PSNR (and LPIPS) with the blurry
input's own (`val/input_*`) beside them, drawn in one chart per metric on the Custom Scalars
tab; `swa/*` for the averaged model at the end. Images: a fixed set of validation crops as
input | output | target at each validation.

Written through the ordinary torch.utils.tensorboard writer, which needs the `tensorboard`
package (an optional dependency, the `tensorboard` extra; `make demo` and `make
test` install it). Without it, training runs as before and says so once. A resumed run purges
the events after its checkpoint's step, as the CSV logs drop their rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn

PREVIEW_IMAGES = 3
PREVIEW_SIDE = 256
TRAIN_SCALARS = ("loss", "mse", "lpips", "fft", "charbonnier", "grad_norm", "lr", "img_per_s")
VAL_SCALARS = ("psnr", "ssim", "detail_psnr", "lpips", "input_psnr", "input_ssim", "input_lpips")
# Custom Scalars layout: each chart draws the output's value and the blurry input's together.
LAYOUT = {
    "validation (output vs blurry input)": {
        "PSNR": ["Multiline", ["val/psnr", "val/input_psnr"]],
        "detail PSNR": ["Multiline", ["val/detail_psnr", "val/input_psnr"]],
        "SSIM": ["Multiline", ["val/ssim", "val/input_ssim"]],
        "LPIPS": ["Multiline", ["val/lpips", "val/input_lpips"]],
    },
}
MISSING_NOTE = ("note: no TensorBoard event files: the tensorboard package is not installed "
                "(pip install tensorboard)")


def _centre_crop(image: torch.Tensor, side: int) -> torch.Tensor:
    h, w = image.shape[-2:]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return image[..., top : top + side, left : left + side]


class TensorBoardLog:
    """The run's event writer; every method does nothing when tensorboard is missing or on
    ranks other than 0 (enabled=False)."""

    def __init__(self, run_dir: Path, enabled: bool = True, purge_step: int | None = None,
                 say: Callable[[str], None] = print) -> None:
        self.writer: Any = None
        self.previews: list[tuple[str, torch.Tensor, torch.Tensor]] = []
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # torch raises it when the tensorboard package is absent
            say(MISSING_NOTE)
            return
        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)
        self.writer.add_custom_scalars(LAYOUT)

    @property
    def active(self) -> bool:
        return self.writer is not None

    def train_row(self, row: dict[str, float]) -> None:
        """One train_log.csv row (window means) as train/* scalars at row["step"]."""
        if self.writer is None:
            return
        for key in TRAIN_SCALARS:
            if key in row:
                self.writer.add_scalar(f"train/{key}", row[key], int(row["step"]))
        self.writer.flush()

    def validation(self, step: int, metrics: dict[str, float], prefix: str = "val") -> None:
        """Validation means (evaluate_model's keys) as {prefix}/* scalars."""
        if self.writer is None:
            return
        for key in VAL_SCALARS:
            if key in metrics:
                self.writer.add_scalar(f"{prefix}/{key}", metrics[key], step)
        self.writer.flush()

    def keep_previews(self, val_set: Iterable[tuple[str, torch.Tensor, torch.Tensor]] | None,
                      count: int = PREVIEW_IMAGES, side: int = PREVIEW_SIDE) -> None:
        """Fix the preview crops once: the centre `side` px of the first `count` validation images."""
        if self.writer is None or val_set is None:
            return
        for _, (name, blurred, sharp) in zip(range(count), val_set):
            self.previews.append((name, _centre_crop(blurred, side).clone(), _centre_crop(sharp, side).clone()))

    @torch.no_grad()
    def preview_images(self, model: nn.Module, device: torch.device, step: int) -> None:
        """input | output | target of each preview crop, as images val_images/N_NAME."""
        if self.writer is None or not self.previews:
            return
        from fdikp_cli.inference.restore import restore

        was_training = model.training
        model.eval()
        try:
            for index, (name, blurred, sharp) in enumerate(self.previews):
                restored = restore(model, blurred, device=device)  # (1, 3, h, w) on the host
                strip = torch.cat([blurred, restored, sharp], dim=-1)[0].clamp(0, 1)  # (3, h, 3w)
                self.writer.add_image(f"val_images/{index}_{name}", strip, step)
        finally:
            model.train(was_training)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
