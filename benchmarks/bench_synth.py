"""Speed of `synthesize_pair`: is it cheap enough to run on the fly in data-loader workers?

    .venv/bin/python -m benchmarks.bench_synth [--threads 1] [--repeats 20] [--max-radius R]

Times one pair per call on random-content images (the cost depends on the layout and the
radii, not on the content), over `--repeats` seeds, and prints the median and 90th percentile
per call and per megapixel. OpenCV's own threads are set by --threads (a data-loader worker
should use 1: the workers are the parallelism).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import cv2
import numpy as np

from fdikp_cli.synth import SynthConfig, make_demo_scene, synthesize_pair

SIZES = [(128, 128), (256, 256), (512, 512), (683, 1024)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--max-radius", type=float, default=None)
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    config = SynthConfig() if args.max_radius is None else replace(SynthConfig(), max_radius=args.max_radius)

    print(f"synthesize_pair, max_radius {config.max_radius} px, OpenCV threads {args.threads}, {args.repeats} seeds")
    print("| size | median ms | p90 ms | median ms / MP |")
    print("|---|---|---|---|")
    for height, width in SIZES:
        image = make_demo_scene((height, width), seed=0)
        synthesize_pair(image, 0, config)  # warm-up: imports, OpenCV's DFT plans
        times = []
        for seed in range(args.repeats):
            start = time.perf_counter()
            synthesize_pair(image, seed, config)
            times.append(time.perf_counter() - start)
        median, p90 = float(np.median(times)) * 1e3, float(np.percentile(times, 90)) * 1e3
        megapixels = height * width / 1e6
        print(f"| {height}x{width} | {median:.0f} | {p90:.0f} | {median / megapixels:.0f} |")


if __name__ == "__main__":
    main()
