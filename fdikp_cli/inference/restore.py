"""restore(): one image tensor in, its deblurred version out, whole or in blended tiles.

The inference contract (any model, not only FDIKP):
- `model` is any callable (an nn.Module or a function) taking x (B, 3, h, w) float in [0, 1]
  on `device` and returning the restored image as a tensor (B, 3, h, w), or a list/tuple of
  images whose last element is the full-resolution one (FDIKP returns [1/4, 1/2, full]).
  Outputs are clamped to [0, 1] here.
- Inputs are padded (reflect, bottom/right) to `model.config.size_multiple` when the model
  has one, and the result is cropped back: tiles of any size are accepted.
- The image stays on the host (float in [0, 1], or uint8 / uint16 read as /255 / /65535, so a
  24 MP photo needs no float copy); only tiles go to the device, and the blended result is
  accumulated in a host float32 buffer (see tiling.py).
- For models with global operations (FDIKP: predicted kernels, strip attention, spectral
  convolution) a tile alone would give them another input than the whole photo. With
  context="whole" (the default) a tiled run first passes a copy of the photo (longest side at
  most `context_side`) through the model once and every tile reuses what those operations
  computed there (global_context.py); context="tile": each tile on its own.
  benchmarks/bench_deblur.py measures how far tiled and whole results differ.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Literal, Union

import torch

from fdikp_cli.errors import InferenceError
from fdikp_cli.inference.device import MIN_TILE, auto_tile_size, is_out_of_memory, release_cached_memory, round_down
from fdikp_cli.inference.global_context import DEFAULT_CONTEXT_SIDE, GlobalContext, record_context
from fdikp_cli.inference.tone_lock import lock_tone
from fdikp_cli.inference.tiling import axis_starts, axis_weight_sum, axis_weights, pad_to_multiple

TileSpec = Union[int, Literal["auto"], None]
# Where a tile's global operations take their input from: a pass over the whole photo, or the tile.
TileContext = Literal["whole", "tile"]
TILE_CONTEXTS: tuple[str, ...] = ("whole", "tile")
ProgressCallback = Callable[[int, int], None]  # (tiles done, tiles in total)
DEFAULT_OVERLAP = 64


@dataclass
class RestoreResult:
    """The restored image and what it took."""

    image: torch.Tensor  # (B, 3, H, W) float32 in [0, 1], host
    dilation: torch.Tensor | None  # (B, 1, H, W) PAC dilation map in [1, d_max], host; None if not asked / none
    tile: int | None  # the tile side used; None: the whole image in one pass
    tiles: int  # how many forward passes (tiles; the context pass not counted)
    # (h, w) of the copy the global context pass saw; None: no context pass (whole image, or
    # context="tile", or a model without global operations)
    context_size: tuple[int, int] | None = None


def size_multiple(model: object) -> int:
    """The input size multiple the model wants (1 if it does not say)."""
    return int(getattr(getattr(model, "config", None), "size_multiple", 1) or 1)


def has_dilation_maps(model: object) -> bool:
    """True when the model can return the PAC dilation map (FDIKP with pac=True)."""
    return hasattr(model, "forward_with_maps") and bool(getattr(getattr(model, "config", None), "pac", False))


def tile_side(model: object, tile: int | None) -> int | None:
    """The tile side restore() really uses for a requested one: rounded down to the model's
    size multiple, and at least two multiples (one multiple leaves no room to step once a
    tile overlaps its neighbour: --tile 32 used to fail on every image over 32 px)."""
    if not tile:
        return None
    multiple = size_multiple(model)
    return max(round_down(tile, multiple), 2 * multiple)


def overlap_used(tile: int, overlap: int) -> int:
    """The overlap restore() uses with `tile`: at most half a tile, so that tiles still step."""
    return max(0, min(overlap, tile // 2))


def overlap_note(tile: int, overlap: int) -> str | None:
    """What --tile-overlap became with `tile` px tiles, when it could not be used as given."""
    used = overlap_used(tile, overlap)
    if used == overlap:
        return None
    return f"--tile-overlap {overlap} is more than half the {tile} px tile: using {used} px"


def tiling_notes(requested: int | None, overlap: int, used: int | None, multiple: int | None = None) -> list[str]:
    """What --tile N and --tile-overlap became (`used`: tile_side of N), one note for each
    that restore() could not use as given; none for whole images. `multiple`: the model's
    size multiple, named in the notes when known."""
    if not requested or not used:
        return []
    notes = []
    if used > requested:
        steps = f" (two {multiple} px steps)" if multiple else ""
        notes.append(f"--tile {requested} is below the model's smallest tile: using {used} px tiles{steps}")
    elif used < requested:
        steps = f" (tiles are multiples of {multiple} px)" if multiple else ""
        notes.append(f"--tile {requested} rounded down to {used} px{steps}")
    note = overlap_note(used, overlap)
    return notes + ([note] if note else [])


def _check_context(context: str, side: int) -> None:
    if context not in TILE_CONTEXTS:
        raise ValueError(f"context must be one of {', '.join(TILE_CONTEXTS)}, got {context!r}")
    if isinstance(side, bool) or not isinstance(side, int) or side < 1:
        raise ValueError(f"context_side must be a positive number of px, got {side!r}")


def _final_image(output: object) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    images = getattr(output, "images", output)
    if isinstance(images, (list, tuple)) and images and isinstance(images[-1], torch.Tensor):
        return images[-1]
    raise TypeError(f"the model returned {type(output).__name__}; expected a tensor or a list of tensors")


def _model_device(model: object) -> torch.device:
    parameters = getattr(model, "parameters", None)
    if callable(parameters):
        first = next(iter(parameters()), None)
        if first is not None:
            return first.device
    return torch.device("cpu")


def _to_unit_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 / uint16 -> float32 in [0, 1]; floats -> float32."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    if x.dtype == torch.uint16:
        return x.float().div_(65535.0)
    if not x.is_floating_point():
        raise TypeError(f"image must be float in [0, 1], uint8 or uint16, got {x.dtype}")
    return x.float()


def _make_forward(model: Callable, with_dilation: bool, device: torch.device, dtype: torch.dtype):
    """x (B, 3, h, w) float32 on device -> (B, 3 [+1], h, w) float32 on device."""
    multiple = size_multiple(model)

    def forward(x: torch.Tensor) -> torch.Tensor:
        padded, undo = pad_to_multiple(x, multiple)
        with torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype != torch.float32):
            if with_dilation:
                out = model.forward_with_maps(padded)  # type: ignore[attr-defined]
                image, dilation = out.images[-1], out.maps[-1].dilation_input
                return undo(torch.cat([image.float(), dilation.float()], dim=1))
            return undo(_final_image(model(padded)).float())

    return forward


@torch.no_grad()
def _run(
    forward: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    out_channels: int,
    tile: int | None,
    overlap: int,
    align: int,
    device: torch.device,
    on_tile: ProgressCallback | None,
    context: Callable[[], GlobalContext | None] | None = None,
) -> tuple[torch.Tensor, int, GlobalContext | None]:
    """Blend forward() over tiles of `image` (B, 3, H, W)
    -> ((B, out_channels, H, W) host float32, tiles, the global context used or None).

    context(): records the global context; called only when the image is really tiled.
    """
    b, _, h, w = image.shape
    if not tile or (tile >= h and tile >= w):
        if on_tile:
            on_tile(0, 1)
        y = forward(_to_unit_float(image).to(device)).cpu()
        if on_tile:
            on_tile(1, 1)
        return y, 1, None
    global_context = context() if context else None
    overlap = overlap_used(tile, overlap)
    rows, cols = axis_starts(h, tile, overlap, align), axis_starts(w, tile, overlap, align)
    row_weights, col_weights = axis_weights(rows, h, tile, overlap), axis_weights(cols, w, tile, overlap)
    total = len(rows) * len(cols)
    accumulator = torch.zeros(b, out_channels, h, w, dtype=torch.float32)
    done = 0
    if on_tile:
        on_tile(0, total)
    for y0, wy in zip(rows, row_weights):
        for x0, wx in zip(cols, col_weights):
            y1, x1 = y0 + wy.numel(), x0 + wx.numel()
            x = _to_unit_float(image[..., y0:y1, x0:x1]).to(device)  # (B, 3, th, tw)
            weight = (wy[:, None] * wx[None, :]).to(device=device, dtype=torch.float32)  # (th, tw)
            if global_context is None:
                y = forward(x)
            else:
                with global_context.applied(box=(y0, x0), tile_size=(y1 - y0, x1 - x0)):
                    y = forward(x)
            accumulator[..., y0:y1, x0:x1] += (y * weight).cpu()
            done += 1
            if on_tile:
                on_tile(done, total)
    # Normalise by the separable weight sum, in place (no (H, W) buffer).
    accumulator /= axis_weight_sum(rows, row_weights, h).float().view(1, 1, h, 1)
    accumulator /= axis_weight_sum(cols, col_weights, w).float().view(1, 1, 1, w)
    return accumulator, total, global_context


def _restore_once(
    model: Callable,
    image: torch.Tensor,
    tile: int | None,
    overlap: int,
    device: torch.device,
    dtype: torch.dtype,
    with_maps: bool,
    on_tile: ProgressCallback | None,
    tone_lock: float | None = None,
    context_side: int | None = DEFAULT_CONTEXT_SIDE,
) -> RestoreResult:
    """context_side: longest side of the global context pass; None: each tile on its own."""
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f"restore expects (B, 3, H, W), got {tuple(image.shape)}")
    with_dilation = with_maps and has_dilation_maps(model)
    tile = tile_side(model, tile)
    forward = _make_forward(model, with_dilation, device, dtype)
    multiple = size_multiple(model)
    # Recorded by _run only if the image is really tiled.
    context = None if not context_side else functools.partial(
        record_context, model, image, forward, multiple, _to_unit_float, device, context_side)
    out, tiles, used_context = _run(forward, image, 4 if with_dilation else 3, tile, overlap, multiple, device,
                                    on_tile, context)
    restored = out[:, :3].clamp_(0.0, 1.0)
    h, w = image.shape[-2:]
    if tone_lock:
        restored = lock_tone(restored, _to_unit_float(image), tone_lock)
    dilation = out[:, 3:] if with_dilation else None
    used = tile if tile and (tile < h or tile < w) else None
    return RestoreResult(restored, dilation, used, tiles, used_context.context_size if used_context else None)


def restore_auto(
    model: Callable,
    image: torch.Tensor,
    *,
    overlap: int = DEFAULT_OVERLAP,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    start_tile: int | None = None,
    with_maps: bool = False,
    on_tile: ProgressCallback | None = None,
    on_retry: Callable[[int, int], None] | None = None,
    tone_lock: float | None = None,
    context: TileContext = "whole",
    context_side: int = DEFAULT_CONTEXT_SIDE,
) -> RestoreResult:
    """Restore with the tile picked from free memory (the whole image when it fits; see
    auto_tile_size) or `start_tile`, halving it and starting the image again after each
    out-of-memory error, down to MIN_TILE.

    The result's `.tile` is what worked: pass it as start_tile for the next image.
    on_retry(old_tile, new_tile) is called before each retry. The context pass sees at most
    a tile's side (memory picked the tile; the context pass must fit where a tile does).
    """
    _check_context(context, context_side)
    device = torch.device(device) if device is not None else _model_device(model)
    multiple = size_multiple(model)
    h, w = image.shape[-2:]
    tile = start_tile or auto_tile_size(device, dtype, multiple, image_size=(h, w))
    while True:
        try:
            side = min(context_side, tile) if context == "whole" else None
            result = _restore_once(model, image, tile, overlap, device, dtype, with_maps, on_tile, tone_lock, side)
            result.tile = result.tile or tile  # remember the auto size even when the image fitted whole
            return result
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled, below
            if not is_out_of_memory(exc):
                raise
        # Outside the except block, so the failed attempt's tensors are freed before retrying.
        release_cached_memory(device)
        effective = min(tile, max(h, w))
        if effective <= MIN_TILE:
            raise InferenceError(f"out of memory on {device} even with {effective} px tiles")
        smaller = max(MIN_TILE, round_down(effective // 2, multiple))
        if on_retry:
            on_retry(tile, smaller)
        tile = smaller


def restore_detailed(
    model: Callable,
    image: torch.Tensor,
    *,
    tile: TileSpec = "auto",
    overlap: int = DEFAULT_OVERLAP,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    start_tile: int | None = None,
    with_maps: bool = False,
    on_tile: ProgressCallback | None = None,
    on_retry: Callable[[int, int], None] | None = None,
    tone_lock: float | None = None,
    context: TileContext = "whole",
    context_side: int = DEFAULT_CONTEXT_SIDE,
) -> RestoreResult:
    """restore() with everything: the PAC dilation map too (with_maps, blended over tiles like
    the image), progress per tile, and for tile="auto" the remembered start_tile and retries."""
    if tile == "auto":
        return restore_auto(
            model, image, overlap=overlap, device=device, dtype=dtype, start_tile=start_tile,
            with_maps=with_maps, on_tile=on_tile, on_retry=on_retry, tone_lock=tone_lock,
            context=context, context_side=context_side,
        )  # fmt: skip
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, int) or tile < 0):
        raise ValueError(f"tile must be None, 0, a positive int or 'auto', got {tile!r}")
    _check_context(context, context_side)
    device = torch.device(device) if device is not None else _model_device(model)
    side = context_side if context == "whole" else None
    return _restore_once(model, image, tile or None, overlap, device, dtype, with_maps, on_tile, tone_lock, side)


def restore(
    model: Callable,
    image: torch.Tensor,
    *,
    tile: TileSpec = None,
    overlap: int = DEFAULT_OVERLAP,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    tone_lock: float | None = None,
    context: TileContext = "whole",
    context_side: int = DEFAULT_CONTEXT_SIDE,
) -> torch.Tensor:
    """Deblur `image` (B, 3, H, W) in [0, 1] (or uint8/uint16) on the host; returns
    (B, 3, H, W) float32 in [0, 1] on the host.

    tile=None or 0: whole image in one pass. tile=N: N x N tiles (rounded down to the model's
    size multiple) overlapping by `overlap`, blended with feathered weights. tile="auto": the
    size from free memory (GPU memory or RAM; the whole image when it fits), halved on
    out-of-memory (see restore_auto).
    dtype: autocast precision (float32: none). `model` must already be on `device`.
    tone_lock: sigma (px) of the tone lock (fdikp_cli.inference.tone_lock; the CLI's default is
    DEFAULT_TONE_LOCK_SIGMA); None or 0: the model's raw output.
    context (tiled runs only): "whole": the model's global operations (predicted kernels,
    strip attention, spectral convolution) get what one pass over a copy of the photo with
    its longest side at most `context_side` px computed (one extra pass, about one tile of
    that side; global_context.py); from a smaller copy than the photo only the kernels, as the
    other terms describe another scale. "tile": each tile computes its own.
    """
    return restore_detailed(model, image, tile=tile, overlap=overlap, device=device, dtype=dtype,
                            tone_lock=tone_lock, context=context, context_side=context_side).image
