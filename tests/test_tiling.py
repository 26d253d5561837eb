"""Tiled inference: the tile layout, the feathered blend, padding, out-of-memory retries."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fdikp_cli.errors import InferenceError
from fdikp_cli.inference.device import MIN_TILE
from fdikp_cli.inference.restore import restore, restore_auto, restore_detailed
from fdikp_cli.inference.tiling import (
    axis_starts,
    axis_weight_sum,
    axis_weights,
    feather_ramp,
    pad_to_multiple,
    tile_grid,
)
from fdikp_cli.model import FDIKP, FDIKPConfig
from fdikp_cli.model import pad_to_multiple as model_pad_to_multiple


@pytest.mark.parametrize("length", [17, 64, 100, 257, 683, 1000, 4000])
@pytest.mark.parametrize(
    ("tile", "overlap", "align"), [(16, 4, 1), (64, 16, 16), (64, 32, 16), (96, 0, 8), (512, 64, 16)]
)
def test_axis_starts_cover_evenly_with_the_overlap(length: int, tile: int, overlap: int, align: int) -> None:
    starts = axis_starts(length, tile, overlap, align)
    ends = [min(s + tile, length) for s in starts]
    assert starts[0] == 0 and ends[-1] == length
    if tile >= length:
        assert starts == [0]
        return
    assert all(s % align == 0 for s in starts)
    assert all(e - s == tile for s, e in zip(starts[:-1], ends[:-1]))  # only the last may be shorter...
    assert ends[-1] - starts[-1] > tile - align  # ...and by less than one alignment step
    shared = [ends[i] - starts[i + 1] for i in range(len(starts) - 1)]
    assert min(shared) >= overlap
    steps = [b - a for a, b in zip(starts, starts[1:])]
    assert max(steps) - min(steps) <= align  # spread evenly: no thin last tile
    # No more tiles than needed: with one fewer, some step would exceed the largest aligned
    # step that keeps the overlap.
    max_step = (tile - overlap) // align * align
    assert (len(starts) - 2) * max_step < starts[-1]


def test_axis_starts_rejects_an_overlap_that_leaves_no_step() -> None:
    with pytest.raises(ValueError):
        axis_starts(200, 64, 64, 16)


def test_tile_grid_is_rows_times_columns() -> None:
    tiles = tile_grid(100, 300, 64, 16, 16)
    rows, cols = axis_starts(100, 64, 16, 16), axis_starts(300, 64, 16, 16)
    assert len(tiles) == len(rows) * len(cols)
    assert {(t.y0, t.x0) for t in tiles} == {(r, c) for r in rows for c in cols}
    assert max(t.y1 for t in tiles) == 100 and max(t.x1 for t in tiles) == 300


def test_feather_ramp_zero_margin_smooth_rise_and_plateau() -> None:
    w = feather_ramp(64, 32, rise_at_start=True, fall_at_end=True)
    assert torch.all(w[:8] == 0) and torch.all(w[-8:] == 0)  # the outer quarter of the overlap
    rise = w[8:24]
    assert torch.all(rise > 0) and torch.all(rise < 1) and torch.all(rise[1:] > rise[:-1])
    assert torch.all(w[24:40] == 1)
    assert torch.allclose(w, w.flip(0))
    # Raised cosine: the rise and the mirrored fall of a neighbour add to one.
    assert torch.allclose(rise + rise.flip(0), torch.ones(16, dtype=torch.float64))
    border = feather_ramp(64, 32, rise_at_start=False, fall_at_end=False)
    assert torch.all(border == 1)


@pytest.mark.parametrize("length", [50, 130, 683, 1025])
@pytest.mark.parametrize(("tile", "overlap"), [(32, 8), (48, 16), (64, 32), (128, 64)])
def test_every_pixel_gets_weight(length: int, tile: int, overlap: int) -> None:
    starts = axis_starts(length, tile, overlap, 16)
    weights = axis_weights(starts, length, tile, overlap)
    total = axis_weight_sum(starts, weights, length)
    assert total.min() > 0.25, "some pixel is covered only by tile borders"


def test_pad_to_multiple_undo_and_same_padding_as_the_model() -> None:
    x = torch.rand(2, 3, 37, 50)
    padded, undo = pad_to_multiple(x, 16)
    assert padded.shape[-2:] == (48, 64)
    assert torch.equal(undo(padded), x)
    reference, size = model_pad_to_multiple(x, 16)
    assert size == (37, 50) and torch.equal(padded, reference)
    tiny, undo_tiny = pad_to_multiple(torch.rand(1, 3, 1, 3), 8)  # too small to reflect
    assert tiny.shape[-2:] == (8, 8) and undo_tiny(tiny).shape[-2:] == (1, 3)
    same, undo_same = pad_to_multiple(torch.rand(1, 3, 32, 32), 16)
    assert same.shape[-2:] == (32, 32) and undo_same(same).shape[-2:] == (32, 32)


def _local_model(seed: int = 0) -> nn.Module:
    """Two 5x5 convolutions: each output pixel sees 4 pixels around it, nothing more."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(), nn.Conv2d(8, 3, 5, padding=2), nn.Sigmoid()).eval()


@pytest.mark.parametrize(("tile", "overlap"), [(32, 16), (48, 16), (64, 32), (40, 24)])
def test_blend_is_exact_for_a_local_model(tile: int, overlap: int) -> None:
    model = _local_model()
    x = torch.rand(2, 3, 96, 130)
    with torch.no_grad():
        whole = model(x)
    tiled = restore(model, x, tile=tile, overlap=overlap)
    assert len(tile_grid(96, 130, tile, overlap)) > 4  # really tiled
    # overlap // 4 >= the model's reach (4 px): the blend must reproduce the whole image.
    assert (tiled - whole).abs().max().item() < 1e-6


def test_blend_of_a_local_model_with_too_little_overlap_shows_seams() -> None:
    """The exactness above is not vacuous: with overlap // 4 < the model's reach it breaks."""
    model = _local_model()
    x = torch.rand(1, 3, 96, 130)
    with torch.no_grad():
        whole = model(x)
    tiled = restore(model, x, tile=32, overlap=4)
    assert (tiled - whole).abs().max().item() > 1e-3


def test_fdikp_tiled_close_to_whole() -> None:
    """FDIKP has global operations (FFT, pooling, strip attention): tiles see less context, so
    tiled and whole differ. Measured on a random model: max 0.0018, mean 0.00026."""
    torch.manual_seed(0)
    model = FDIKP(FDIKPConfig()).eval()
    x = torch.rand(1, 3, 96, 128)
    whole = restore(model, x)
    tiled = restore(model, x, tile=64, overlap=32)
    diff = (whole - tiled).abs()
    print(f"FDIKP 96x128, tile 64, overlap 32: max |tiled - whole| = {diff.max():.5f}, mean {diff.mean():.6f}")
    assert diff.max().item() < 0.02
    assert diff.mean().item() < 0.002
    assert diff.max().item() > 0  # tiles did change something: the comparison is real


def test_a_tile_of_one_size_multiple_is_raised_to_two() -> None:
    """`--tile 32` with a 32-multiple model used to fail ("no room to step") on every image
    larger than the tile; it now runs 64 px tiles, blended exactly for a local model."""
    model = _local_model()
    model.config = FDIKPConfig()  # type: ignore[assignment]  # only .size_multiple is read
    multiple = model.config.size_multiple
    x = torch.rand(1, 3, 3 * multiple, 5 * multiple)
    with torch.no_grad():
        whole = model(x)
    result = restore_detailed(model, x, tile=multiple, overlap=64)
    assert result.tile == 2 * multiple and result.tiles > 1
    assert (result.image - whole).abs().max().item() < 1e-6


def test_integer_images_equal_their_float_version() -> None:
    model = _local_model()
    x8 = torch.randint(0, 256, (1, 3, 40, 70), dtype=torch.uint8)
    x16 = torch.randint(0, 65536, (1, 3, 40, 70), dtype=torch.int32).to(torch.uint16)
    as_float = restore(model, x8.float() / 255, tile=32, overlap=16)
    assert torch.allclose(restore(model, x8, tile=32, overlap=16), as_float, atol=1e-6)
    assert torch.allclose(restore(model, x16), restore(model, x16.float() / 65535), atol=1e-6)


def test_any_callable_returning_a_tensor_or_a_list() -> None:
    x = torch.rand(1, 3, 20, 30)
    as_tensor = restore(lambda t: t * 0.5, x)
    as_list = restore(lambda t: [t[..., ::2, ::2], t * 0.5], x, tile=16, overlap=8)
    assert torch.allclose(as_tensor, x * 0.5) and torch.allclose(as_list, x * 0.5, atol=1e-6)
    assert torch.equal(restore(lambda t: t * 3 - 1, x), (x * 3 - 1).clamp(0, 1))  # clamped


class _MemoryHungry(nn.Module):
    """A local model that runs out of (pretend) device memory above `limit` pixels a side."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.inner = _local_model()
        self.sides: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sides.append(max(x.shape[-2:]))
        if max(x.shape[-2:]) > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.inner(x)


def test_auto_tile_halves_on_out_of_memory_and_remembers() -> None:
    model = _MemoryHungry(limit=200)
    x = torch.rand(1, 3, 600, 560)
    retries: list[tuple[int, int]] = []
    result = restore_auto(
        model, x, overlap=32, device="cpu", start_tile=1024, on_retry=lambda a, b: retries.append((a, b))
    )
    assert retries == [(1024, 300), (300, 150)]  # 1024 -> the image's long side 600 halved -> 150
    assert result.tile == 150 and result.tiles > 1
    with torch.no_grad():
        whole = model.inner(x)
    assert (result.image - whole).abs().max().item() < 1e-6  # the retry restarted cleanly
    model.sides.clear()
    again = restore_auto(model, x, overlap=32, device="cpu", start_tile=result.tile)
    assert again.tile == 150 and max(model.sides) == 150  # the remembered size: no new failure


def test_out_of_memory_at_the_smallest_tile_is_an_inference_error() -> None:
    model = _MemoryHungry(limit=MIN_TILE // 2)
    with pytest.raises(InferenceError, match="out of memory"):
        restore_auto(model, torch.rand(1, 3, 300, 300), overlap=16, device="cpu", start_tile=256)


def test_other_errors_are_not_retried() -> None:
    calls = []

    def broken(x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        raise ValueError("a bug, not memory")

    with pytest.raises(ValueError, match="a bug"):
        restore_auto(broken, torch.rand(1, 3, 64, 64), device="cpu", start_tile=32)
    assert len(calls) == 1


def test_dilation_map_is_blended_like_the_image() -> None:
    torch.manual_seed(0)
    cfg = FDIKPConfig(widths=(8, 16, 32), level_blocks=(1, 1, 1), bottleneck_res_blocks=1, predictor_channels=8)
    model = FDIKP(cfg).eval()
    x = torch.rand(1, 3, 64, 96)
    whole = restore_detailed(model, x, tile=None, with_maps=True)
    tiled = restore_detailed(model, x, tile=48, overlap=16, with_maps=True)
    with torch.no_grad():
        reference = model.forward_with_maps(x).maps[-1].dilation_input
    assert whole.dilation is not None and tiled.dilation is not None
    assert torch.allclose(whole.dilation, reference, atol=1e-5)
    assert tiled.dilation.shape == (1, 1, 64, 96) and tiled.tiles > 1
    assert tiled.dilation.min() >= 1 and tiled.dilation.max() <= cfg.pac_max_dilation
    assert (tiled.dilation - whole.dilation).abs().mean() < 0.1 * (cfg.pac_max_dilation - 1)
    no_pac = FDIKP(FDIKPConfig(widths=(8, 16, 32), level_blocks=(1, 1, 1), pac=False)).eval()
    assert restore_detailed(no_pac, x, tile=None, with_maps=True).dilation is None


def test_rounding_tile_to_the_model_multiple() -> None:
    model = FDIKP(FDIKPConfig(widths=(8, 16, 32), level_blocks=(1, 1, 1), bottleneck_res_blocks=1)).eval()
    result = restore_detailed(model, torch.rand(1, 3, 80, 80), tile=40, overlap=8)
    assert result.tile == 32  # rounded down to size_multiple 16
    assert result.tiles == len(tile_grid(80, 80, 32, 8, 16))
    assert math.isfinite(float(result.image.sum()))
    # tile larger than the image: one pass, same as the whole image
    whole = restore(model, torch.ones(1, 3, 80, 80) * 0.5)
    big = restore(model, torch.ones(1, 3, 80, 80) * 0.5, tile=512)
    assert torch.equal(whole, big)


def test_restore_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        restore(lambda t: t, torch.rand(1, 4, 8, 8))
    with pytest.raises(ValueError):
        restore(lambda t: t, torch.rand(1, 3, 8, 8), tile=-1)
    with pytest.raises(TypeError):
        restore(lambda t: t, torch.zeros(1, 3, 8, 8, dtype=torch.int64))
