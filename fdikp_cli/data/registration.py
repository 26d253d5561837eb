"""Registering a real (blurred, sharp) capture pair before it is trained on.

Real defocus pairs are two exposures taken one after the other (DPDD: f/22 and f/4). Between
them the camera moves by a fraction of a pixel (measured on the 38 DPDD-canon train pairs:
median 0.2 px, up to 2.9 px) and the exposure differs (the blurred capture is ~3.8/255 darker).
A pixel loss against a shifted target is smallest for an output that is itself blurred (the
mean of the possible positions), and a target of another exposure teaches brightening, which is
not deblurring and costs PSNR on other cameras. So, per pair and once:

- `estimate_shift`: the global translation between the two, by cross-correlation of band-passed
  luminance (the blur removes the finest band from the blurred capture; the coarse band is
  dominated by shading, so a difference of Gaussians keeps the edges both still share).
- `fourier_shift`: the *blurred* capture is moved onto the sharp one. The blurred capture has
  almost no content near Nyquist, so the move loses nothing there, and a Fourier phase ramp
  keeps the noise spectrum flat (interpolating kernels smooth the noise, which the model would
  then expect at inference). The sharp target is never resampled.
- `match_tone`: the target's per-channel exposure and colour are fitted (gain and offset, on
  heavily low-passed images so that blur does not enter the fit) to the blurred capture's.
- `register_window`: the same shift estimate once more on one training window. The captures
  also turn slightly between exposures, so a global shift leaves local ones: on the 38
  DPDD-canon train pairs, 320 px windows of globally registered pairs still show a median
  0.21 px (90th percentile 0.62 px) of shift, and moving them lowers the windows' fine-detail
  error by 3 % (`python -m benchmarks.pair_registration --windows 320`).

All functions take and return float32 (H, W, 3) arrays in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Difference-of-Gaussians band used for the shift estimate (sigmas in pixels).
_BAND_SIGMAS = (2.0, 8.0)
# Low-pass used for the tone fit: far wider than DPDD blur radii (mostly under 16 px).
_TONE_SIGMA = 24.0
# Reflect padding of the Fourier shift (pixels): a phase ramp wraps content around the border.
_SHIFT_PAD = 16
# Largest disagreement (median absolute deviation, px) between the whole-image and quadrant
# shift estimates for which a pair still counts as globally shifted.
_MAX_SPREAD = 0.6
# Largest local correction (px) `register_window` applies on top of the global one: the measured
# residuals are under 1 px; a larger estimate in one window is more likely wrong than real.
_MAX_LOCAL_SHIFT = 2.0


@dataclass(frozen=True)
class PairRegistration:
    """What `register_pair` did to one pair (for logs and the experiment record)."""

    shift_yx: tuple[float, float]  # the blurred capture was moved by this (rows, columns)
    consistent: bool  # False: the shift estimates disagreed and the pair was left unmoved
    gain: tuple[float, float, float]  # target' = gain * target + offset, per channel R, G, B
    offset: tuple[float, float, float]


def _gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


def _luma_band(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> (H, W) float64 difference-of-Gaussians band of the luminance."""
    luma = (image[..., 0] * 0.299 + image[..., 1] * 0.587 + image[..., 2] * 0.114).astype(np.float32)
    fine, coarse = _BAND_SIGMAS
    return (_gaussian(luma, fine) - _gaussian(luma, coarse)).astype(np.float64)


def _upsampled_correlation(cross_power: np.ndarray, center: tuple[float, float], factor: int,
                           half_width: float) -> np.ndarray:
    """Inverse DFT of `cross_power` evaluated only on a fine grid (step 1/factor) around `center`.

    Equivalent to zero-padding the spectrum `factor` times, at the cost of two small matrix
    products instead of one huge FFT.
    """
    h, w = cross_power.shape
    offsets = np.arange(-half_width, half_width + 1e-9, 1.0 / factor)
    rows, cols = center[0] + offsets, center[1] + offsets
    fy, fx = np.fft.fftfreq(h), np.fft.fftfreq(w)
    row_kernel = np.exp(2j * np.pi * rows[:, None] * fy[None, :])  # (n, h)
    col_kernel = np.exp(2j * np.pi * fx[:, None] * cols[None, :])  # (w, n)
    return (row_kernel @ cross_power @ col_kernel).real, offsets


def correlation_shift(blurred: np.ndarray, sharp: np.ndarray, precision: int = 20) -> tuple[float, float]:
    """(dy, dx) that moves `blurred` onto `sharp` (see `estimate_shift`), from the whole images.

    Cross-correlation of Hann-windowed band-passed luminance, computed by FFT; the integer peak
    is refined on a 1/`precision` px grid by a local upsampled DFT. Deliberately not whitened
    (phase correlation): a disc blur's transfer function changes sign beyond its first zero, and
    whitening gives those sign-flipped frequencies full weight, which moves the peak (on a
    uniformly disc-blurred test scene, radius 3 px, whitened correlation was off by 1.6 px).
    """
    a, b = _luma_band(blurred), _luma_band(sharp)
    h, w = a.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    spec_a, spec_b = np.fft.fft2(a * window), np.fft.fft2(b * window)
    cross = spec_b * np.conj(spec_a)
    cross /= np.abs(cross).max()  # scale only: keeps the upsampled DFT's numbers near 1
    surface = np.fft.ifft2(cross).real
    peak_y, peak_x = np.unravel_index(int(np.argmax(surface)), surface.shape)
    peak = (float(peak_y - h if peak_y > h // 2 else peak_y), float(peak_x - w if peak_x > w // 2 else peak_x))
    fine, offsets = _upsampled_correlation(cross, peak, precision, 1.5)
    iy, ix = np.unravel_index(int(np.argmax(fine)), fine.shape)
    return peak[0] + float(offsets[iy]), peak[1] + float(offsets[ix])


def estimate_shift(blurred: np.ndarray, sharp: np.ndarray,
                   max_spread: float = _MAX_SPREAD) -> tuple[float, float] | None:
    """(dy, dx) that moves `blurred` onto `sharp`: sharp(y, x) ~ blurred(y - dy, x - dx); None
    when the pair shows no consistent global shift.

    The shift is measured on the whole image and on its four quadrants; their median is the
    answer when the five agree (median absolute deviation <= `max_spread` px per axis). Where a
    quadrant is all defocus or flat sky, its estimate is noise; where they disagree, moving the
    capture would be a guess, and an unmoved pair is the safer training example.
    """
    h, w = blurred.shape[:2]
    estimates = [correlation_shift(blurred, sharp)]
    if h >= 64 and w >= 64:
        for top in (0, h // 2):
            for left in (0, w // 2):
                tile = (slice(top, top + h // 2), slice(left, left + w // 2))
                estimates.append(correlation_shift(blurred[tile], sharp[tile]))
    values = np.asarray(estimates)  # (5, 2)
    median = np.median(values, axis=0)
    spread = np.median(np.abs(values - median), axis=0)
    if np.any(spread > max_spread):
        return None
    return float(median[0]), float(median[1])


def fourier_shift(image: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """Move an (H, W, C) image by (dy, dx) pixels with a Fourier phase ramp (reflect-padded)."""
    if dy == 0.0 and dx == 0.0:
        return image
    pad = _SHIFT_PAD
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="reflect").astype(np.float64)
    h, w = padded.shape[:2]
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    ramp = np.exp(-2j * np.pi * (fy * dy + fx * dx))[..., None]  # (h, w//2+1, 1)
    spectrum = np.fft.rfft2(padded, axes=(0, 1)) * ramp
    moved = np.fft.irfft2(spectrum, s=(h, w), axes=(0, 1))
    return np.clip(moved[pad:-pad, pad:-pad], 0.0, 1.0).astype(np.float32)


def match_tone(target: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit target' = gain * target + offset per channel so that low-pass(target') ~ low-pass(reference).

    Returns (adjusted target, gain (3,), offset (3,)). Least squares on the low-passed images,
    which blur leaves (nearly) unchanged; the fit ignores clipped pixels of either image.
    """
    low_t = _gaussian(target, _TONE_SIGMA).reshape(-1, 3).astype(np.float64)
    low_r = _gaussian(reference, _TONE_SIGMA).reshape(-1, 3).astype(np.float64)
    flat_t, flat_r = target.reshape(-1, 3), reference.reshape(-1, 3)
    usable = np.all((flat_t > 0.01) & (flat_t < 0.99) & (flat_r > 0.01) & (flat_r < 0.99), axis=1)
    if usable.sum() < 1000:  # almost all clipped: leave the tone alone
        usable[:] = True
    gain, offset = np.ones(3), np.zeros(3)
    for c in range(3):
        x, y = low_t[usable, c], low_r[usable, c]
        design = np.stack([x, np.ones_like(x)], axis=1)
        (g, o), *_ = np.linalg.lstsq(design, y, rcond=None)
        gain[c], offset[c] = g, o
    adjusted = np.clip(target * gain.astype(np.float32) + offset.astype(np.float32), 0.0, 1.0)
    return adjusted.astype(np.float32), gain, offset


def register_pair(blurred: np.ndarray, sharp: np.ndarray, align: bool = True,
                  tone: bool = True) -> tuple[np.ndarray, np.ndarray, PairRegistration]:
    """(blurred moved onto sharp, sharp with the blurred capture's tone, what was done)."""
    dy = dx = 0.0
    consistent = True
    if align:
        shift = estimate_shift(blurred, sharp)
        consistent = shift is not None
        dy, dx = shift or (0.0, 0.0)
        blurred = fourier_shift(blurred, dy, dx)
    gain, offset = np.ones(3), np.zeros(3)
    if tone:
        sharp, gain, offset = match_tone(sharp, blurred)
    record = PairRegistration((dy, dx), consistent, tuple(float(g) for g in gain), tuple(float(o) for o in offset))
    return blurred, sharp, record


def register_window(blurred: np.ndarray, sharp: np.ndarray,
                    margin: int) -> tuple[np.ndarray, np.ndarray, tuple[float, float] | None]:
    """Re-register one (already globally registered) training window and cut its margin.

    `blurred`, `sharp`: (S + 2 margin, S + 2 margin, 3); returns the (S, S, 3) centres, the
    blurred one moved by the window's own shift estimate (never the target), and that shift, or
    None where the window's estimates disagree (`estimate_shift`) or exceed `_MAX_LOCAL_SHIFT`
    and the window is left as it was. The margin gives the Fourier shift real content to bring in.
    """
    inner = (slice(margin, blurred.shape[0] - margin), slice(margin, blurred.shape[1] - margin))
    shift = estimate_shift(blurred, sharp)
    if shift is None or max(abs(shift[0]), abs(shift[1])) > _MAX_LOCAL_SHIFT:
        return blurred[inner], sharp[inner], None
    return fourier_shift(blurred, *shift)[inner], sharp[inner], shift
