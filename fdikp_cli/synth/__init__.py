"""Synthetic defocus: realistic (blurred, sharp) training pairs from any sharp photo.

    from fdikp_cli.synth import SynthConfig, synthesize_pair
    pair = synthesize_pair(sharp, seed=0, config=SynthConfig(max_radius=8.0))
    pair.blurred, pair.sharp, pair.radius  # (H, W, 3), (H, W, 3), (H, W) float32
"""

from fdikp_cli.synth.config import SynthConfig
from fdikp_cli.synth.engine import SynthPair, synthesize_pair, synthesize_pair_with_layers
from fdikp_cli.synth.render import BlurLayer
from fdikp_cli.synth.scene import make_demo_scene

__all__ = [
    "BlurLayer",
    "SynthConfig",
    "SynthPair",
    "make_demo_scene",
    "synthesize_pair",
    "synthesize_pair_with_layers",
]
