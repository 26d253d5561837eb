"""Does storing the defocus-map estimator in half precision change its maps?

    nice -n 5 .venv/bin/python -m benchmarks.defocus_map_fp16 runs/defocusA/defocus_map.safetensors OUT.safetensors

Writes OUT with the estimator's tensors in float16 (the bank stays float32), then compares the
maps of both files (each run in float32) on the blurred photos of DPDD val: the largest and mean
absolute difference in px, against the 16-bit map file's step of 0.01 px.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from benchmarks.reblur_fit import PAIRS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--photos", type=Path, default=PAIRS / "val" / "source")
    args = parser.parse_args()
    torch.set_num_threads(2)
    from fdikp_cli.defocus.maps import estimate_radius_map
    from fdikp_cli.defocus.weights import load_defocus_weights, save_defocus_weights
    from fdikp_cli.synth.writer import list_images, read_rgb

    full = load_defocus_weights(args.source)
    save_defocus_weights(full.model, full.bank, args.out, full.provenance, storage_dtype=torch.float16)
    half = load_defocus_weights(args.out)
    worst, means = 0.0, []
    for path in list_images(args.photos):
        photo = read_rgb(path)
        difference = np.abs(estimate_radius_map(full, photo) - estimate_radius_map(half, photo))
        worst = max(worst, float(difference.max()))
        means.append(float(difference.mean()))
    sizes = args.source.stat().st_size, args.out.stat().st_size
    print(f"{len(means)} photos: max |fp16 - fp32| {worst:.4f} px, mean {np.mean(means):.5f} px "
          f"(16-bit file step 0.01 px); {sizes[0] / 1e6:.2f} MB -> {sizes[1] / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
