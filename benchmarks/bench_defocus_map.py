"""Cost of the defocus-map estimator alone, in seconds per megapixel (issue 12: <= 1.5 s/MP on
2 CPU cores).

    nice -n 5 .venv/bin/python -m benchmarks.bench_defocus_map                # 1024x683, 2 threads
    nice -n 5 .venv/bin/python -m benchmarks.bench_defocus_map --size 2000x1333 --threads 2

Times the network's forward pass in float32 under inference mode (random weights cost the same
as trained ones), best and median of --repeats runs after one warm-up. The machine may be shared
with other jobs: the best run is the closest to the machine's own speed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="1024x683", help="WIDTHxHEIGHT of the test image")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from fdikp_cli.defocus.estimator import DefocusMapNet, EstimatorConfig, parameter_count

    width, height = (int(v) for v in args.size.lower().split("x"))
    model = DefocusMapNet(EstimatorConfig()).eval()
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    times = []
    with torch.inference_mode():
        model(image)
        for _ in range(args.repeats):
            start = time.perf_counter()
            model(image)
            times.append(time.perf_counter() - start)
    mp = width * height / 1e6
    print(f"{parameter_count(model)} parameters; {width}x{height} ({mp:.2f} MP), {args.threads} thread(s): "
          f"best {min(times) / mp:.3f} s/MP, median {statistics.median(times) / mp:.3f} s/MP over {args.repeats} runs")


if __name__ == "__main__":
    main()
