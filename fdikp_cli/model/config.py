"""FDIKPConfig: every architectural choice of the network, including the paper's ablations."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

from fdikp_cli.errors import ConfigError

KernelPredictor = Literal["frequency", "spatial"]
CoefficientModule = Literal["dsrm", "sram"]
DdmVariant = Literal["sequential", "spatial", "frequency", "parallel"]
DilationSource = Literal["photo", "defocus_map"]

ALLOWED_KERNEL_SIZES = (3, 5, 7, 9, 11, 15)


@dataclass(frozen=True)
class FDIKPConfig:
    """Configuration of the FDIKP network.

    The defaults are the paper's model (5 inverse kernels of 5x5, DIKP + PAC + DSRM with the
    sequential dual-domain module). The Literal-typed fields build the paper's ablations.
    """

    kernel_size: int = 5
    # The paper ties the number of kernels to their size (Fig. 12); None means "= kernel_size".
    num_kernels: int | None = None
    kernel_predictor: KernelPredictor = "frequency"
    pac: bool = True
    pac_max_dilation: float = 8.0
    coefficient_module: CoefficientModule = "dsrm"
    ddm: DdmVariant = "sequential"
    # DSRM widths per level (1, 1/2, 1/4, 1/8 of the stage resolution); the DDM sits at the last.
    widths: tuple[int, ...] = (32, 64, 128, 192)
    # ResBlocks per level in the encoder; the decoder mirrors every level but the last.
    # A 3x3 conv costs the same per pixel at any level (channels x2, pixels /4), but a deeper
    # conv holds 4x the parameters of the level above: capacity goes to the deep levels.
    level_blocks: tuple[int, ...] = (1, 1, 2, 2)
    bottleneck_res_blocks: int = 1
    attention_heads: int = 4
    predictor_channels: int = 32
    predictor_pool: int = 16
    # Add the stage input to the stage output (ours, not the paper's): see docs/architecture.md.
    global_residual: bool = True
    num_stages: int = 3
    # The fields below default to the form of the weights shipped before them (a file without
    # a key loads as before); docs/architecture.md says what each changes and why.
    # Amplitude spectra normalised to an S x S image (None: raw fft2, grows with the image).
    spectrum_reference_size: int | None = None
    # What PAC's dilation map sees: the photo (paper) or also the calibrated defocus map.
    dilation_source: DilationSource = "photo"
    # Each stage adds gate * (upsampled correction of the stage before); gate learnt, starts at 0.
    stage_carry: bool = False
    # The coefficient module's stem also gets the guidance radius (a zero-initialised conv): the
    # coefficient maps can grow with the blur (needs the estimator, as dilation_source does).
    coefficient_guidance: bool = False
    # The stage output adds gate * (mean deconvolution of x_s - x_s): a path that must pass
    # through the kernels and PAC; gate learnt, starts at 0.
    deconvolution_skip: bool = False
    # D's logit at stages 2+ also gets a zero-initialised conv of the recurrent state the coefficient
    # module handed on (its multi-scale view of the photo): state_dilation.py.
    dilation_from_state: bool = False
    # Radii (stage px) of the inverse-disc bank's starting kernels; () = no bank. Each stage adds a
    # zero-initialised head's reading of the M wide deconvolutions of its input: inverse_bank.py.
    inverse_bank_radii: tuple[float, ...] = ()
    # Taps per side of the bank's kernels (odd): the inverse of a 12 px disc rings ~4r wide.
    inverse_bank_size: int = 47

    def __post_init__(self) -> None:
        if self.kernel_size not in ALLOWED_KERNEL_SIZES:
            raise ConfigError(f"kernel_size must be one of {ALLOWED_KERNEL_SIZES}, got {self.kernel_size}")
        if self.kernel_predictor not in ("frequency", "spatial"):
            raise ConfigError(f"kernel_predictor must be 'frequency' or 'spatial', got {self.kernel_predictor!r}")
        if self.coefficient_module not in ("dsrm", "sram"):
            raise ConfigError(f"coefficient_module must be 'dsrm' or 'sram', got {self.coefficient_module!r}")
        if self.ddm not in ("sequential", "spatial", "frequency", "parallel"):
            raise ConfigError(f"ddm must be sequential|spatial|frequency|parallel, got {self.ddm!r}")
        if self.num_stages < 1:
            raise ConfigError("num_stages must be at least 1")
        if self.dilation_source not in ("photo", "defocus_map"):
            raise ConfigError(f"dilation_source must be 'photo' or 'defocus_map', got {self.dilation_source!r}")
        if self.dilation_source == "defocus_map" and not self.pac:
            raise ConfigError("dilation_source 'defocus_map' needs pac = true")
        if self.dilation_from_state and not self.pac:
            raise ConfigError("dilation_from_state needs pac = true")
        if self.coefficient_guidance and self.dilation_source != "defocus_map":
            raise ConfigError("coefficient_guidance needs dilation_source 'defocus_map' (the estimator both use)")
        if self.spectrum_reference_size is not None and self.spectrum_reference_size < 1:
            raise ConfigError("spectrum_reference_size must be a positive number of px or null")
        if any(not 0.0 < r <= 30.0 for r in self.inverse_bank_radii):
            raise ConfigError(f"inverse_bank_radii must lie in (0, 30] px, got {self.inverse_bank_radii}")
        if self.inverse_bank_size % 2 == 0 or not 3 <= self.inverse_bank_size <= 63:
            raise ConfigError(f"inverse_bank_size must be odd, 3-63, got {self.inverse_bank_size}")
        if self.pac_max_dilation < 1.0:
            raise ConfigError("pac_max_dilation must be >= 1")
        if len(self.widths) < 2 or any(w <= 0 or w % self.attention_heads for w in self.widths):
            raise ConfigError(f"widths must be 2+ positive multiples of attention_heads, got {self.widths}")
        if len(self.level_blocks) != len(self.widths):
            raise ConfigError("level_blocks needs one count per width")

    @property
    def kernels(self) -> int:
        """How many inverse kernels each FIKP predicts."""
        return self.num_kernels if self.num_kernels is not None else self.kernel_size

    @property
    def feature_channels(self) -> int:
        """Channels of F (and of C): N kernels x RGB, for the input and for the previous output."""
        return 2 * 3 * self.kernels

    @property
    def size_multiple(self) -> int:
        """Inputs are padded to a multiple of this: the coarsest stage is 1/2^(stages-1), and
        its DSRM halves (levels - 1) times more."""
        return 2 ** (self.num_stages - 1 + len(self.widths) - 1)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "FDIKPConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown model configuration keys: {', '.join(unknown)}")
        values = dict(values)
        for key in ("widths", "level_blocks", "inverse_bank_radii"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "FDIKPConfig":
        try:
            return cls.from_dict(json.loads(text))
        except (json.JSONDecodeError, TypeError) as exc:
            raise ConfigError(f"invalid model configuration: {exc}") from None
