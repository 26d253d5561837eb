"""Benchmarks of `fdikp deblur` on CPU: speed, peak memory of a large photo, tiled vs whole.

    .venv/bin/python -m benchmarks.bench_deblur --part speed      # s/MP, 1024x683, fp32
    .venv/bin/python -m benchmarks.bench_deblur --part memory     # peak RSS, 24 MP photo, default tile
    .venv/bin/python -m benchmarks.bench_deblur --part tiling     # PSNR tiled vs whole, DPDD val
    .venv/bin/python -m benchmarks.bench_deblur                   # all three

Data: the DPDD val pairs in ../shared/data/dpdd-canon-iso/val (or $FDIKP_SHARED_DIR).
Model: the shipped weights if present, else a random model (said in the output: the quality
numbers then say nothing about deblurring, only about how much tiling changes the result).

Memory is the peak resident set (ru_maxrss) of a child process that runs the whole file
pipeline (read a 6000x4000 JPEG, tiled inference, write the JPEG), so nothing else in this
process counts. By default the child runs the model on the first --memory-tiles tiles only
and passes the rest through unchanged: the peak is reached in the first tile (the host
buffers exist from the start), and the full 35-tile run takes ~10 minutes on 2 cores.
--memory-tiles 0 runs every tile.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FDIKP_SHARED_DIR", REPO_ROOT.parent / "shared"))
VAL = SHARED / "data" / "dpdd-canon-iso" / "val"


def _load(threads: int):  # noqa: ANN202 - torch imported lazily
    import torch

    torch.set_num_threads(threads)
    from fdikp_cli.weights import load_model

    loaded = load_model(None, device="cpu")
    return loaded


def _read_float(path: Path):  # noqa: ANN202
    import torch

    from fdikp_cli.imageio import read_image

    pixels = read_image(path).pixels
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).unsqueeze(0).float() / 255.0  # (1, 3, H, W)


def _psnr(a, b) -> float:  # noqa: ANN001
    import math

    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def bench_speed(threads: int, repeats: int) -> dict:
    """Seconds per megapixel, CPU fp32, default tile (a 1024x683 photo runs whole)."""
    from fdikp_cli.inference.restore import restore_detailed

    loaded = _load(threads)
    source = sorted((VAL / "source").glob("*.png"))[0]
    image = _read_float(source)
    megapixels = image.shape[-1] * image.shape[-2] / 1e6
    times, cpu_times, tiles = [], [], 0
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = restore_detailed(loaded.model, image, tile="auto", device="cpu")
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
        tiles = result.tiles
    best, median = min(times), sorted(times)[len(times) // 2]
    return {
        "image": source.name, "size": list(image.shape[-2:]), "threads": threads, "tiles": tiles,
        "trained_weights": loaded.trained, "seconds": [round(t, 2) for t in times],
        "s_per_mp_median": round(median / megapixels, 2), "s_per_mp_best": round(best / megapixels, 2),
        # CPU seconds (all threads) per MP: less sensitive to other jobs on a shared machine.
        "cpu_s_per_mp_median": round(sorted(cpu_times)[len(cpu_times) // 2] / megapixels, 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }  # fmt: skip


def bench_memory(threads: int, megapixels: float, memory_tiles: int) -> dict:
    """Peak RSS of a child process deblurring a ~`megapixels` JPEG with the default tile."""
    command = [
        sys.executable, "-m", "benchmarks.bench_deblur", "--child-memory", "--threads", str(threads),
        "--megapixels", str(megapixels), "--memory-tiles", str(memory_tiles),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"memory child failed:\n{completed.stdout}\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _memory_child(threads: int, megapixels: float, memory_tiles: int) -> None:
    import cv2
    import numpy as np

    from fdikp_cli.inference.batch import DeblurOptions, Engine, deblur_files

    loaded = _load(threads)
    calls = {"model": 0}

    def first_tiles_only(x):  # noqa: ANN001, ANN202 - the benchmark's stand-in
        calls["model"] += 1
        if memory_tiles and calls["model"] > memory_tiles:
            return x
        return loaded.model(x)

    first_tiles_only.config = loaded.model.config  # type: ignore[attr-defined]
    width = int(round((megapixels * 1e6 * 1.5) ** 0.5))
    height = int(round(width / 1.5))
    source = sorted((VAL / "source").glob("*.png"))[0]
    small = cv2.imdecode(np.fromfile(source, np.uint8), cv2.IMREAD_COLOR)
    big = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "big.jpg"
        cv2.imwrite(str(photo), big, [cv2.IMWRITE_JPEG_QUALITY, 95])
        del small, big
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        summary = deblur_files([photo], DeblurOptions(), Engine(first_tiles_only))
        seconds = time.perf_counter() - started
    result = summary.results[0]
    if result.status != "done":
        raise SystemExit(f"deblur failed: {result.reason}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({
        "size": [height, width], "megapixels": round(width * height / 1e6, 1), "threads": threads,
        "tiles": result.tiles, "tiles_through_the_model": min(calls["model"], memory_tiles or calls["model"]),
        "peak_rss_gib": round(peak / 2**20, 2), "rss_before_the_photo_gib": round(baseline / 2**20, 2),
        "seconds": round(seconds, 1), "trained_weights": loaded.trained,
    }))  # fmt: skip


def bench_tiling(threads: int, images: int, configs: list[tuple[int | str, int]]) -> dict:
    """PSNR of tiled vs whole outputs, and of each against the ground truth."""
    from fdikp_cli.inference.restore import DEFAULT_OVERLAP, restore_detailed

    loaded = _load(threads)
    configs = [("auto", DEFAULT_OVERLAP), *configs]
    rows = []
    for source in sorted((VAL / "source").glob("*.png"))[:images]:
        blurry, sharp = _read_float(source), _read_float(VAL / "target" / source.name)
        whole = restore_detailed(loaded.model, blurry, tile=None).image
        whole_vs_gt = _psnr(whole, sharp)
        row = {"image": source.name, "whole_vs_gt_db": round(whole_vs_gt, 3), "configs": []}
        for tile, overlap in configs:
            started = time.perf_counter()
            tiled = restore_detailed(loaded.model, blurry, tile=tile, overlap=overlap, device="cpu")
            vs_gt = _psnr(tiled.image, sharp)
            row["configs"].append({
                "tile": tile, "overlap": overlap, "tiles": tiled.tiles,
                "seconds": round(time.perf_counter() - started, 1),
                # None: one tile, identical to the whole-image result
                "tiled_vs_whole_db": None if tiled.tiles == 1 else round(_psnr(tiled.image, whole), 2),
                "max_abs_diff": round(float((tiled.image - whole).abs().max()), 4),
                "tiled_vs_gt_db": round(vs_gt, 3), "gt_delta_db": round(vs_gt - whole_vs_gt, 4),
            })  # fmt: skip
        rows.append(row)
    return {"threads": threads, "trained_weights": loaded.trained, "images": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["speed", "memory", "tiling", "all"], default="all")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--megapixels", type=float, default=24.0)
    parser.add_argument(
        "--memory-tiles", type=int, default=2, help="tiles through the model in the memory run (0: all)"
    )
    parser.add_argument("--images", type=int, default=2, help="DPDD val images for the tiling part")
    parser.add_argument("--tiles", default="512:64,512:128", help="extra tile:overlap pairs for the tiling part")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory:
        _memory_child(args.threads, args.megapixels, args.memory_tiles)
        return
    if not (VAL / "source").is_dir():
        raise SystemExit(f"needs the DPDD val images in {VAL} (set FDIKP_SHARED_DIR)")
    results: dict = {"machine": f"{os.cpu_count()} CPUs visible, {args.threads} torch threads, CPU fp32"}
    if args.part in ("speed", "all"):
        results["speed"] = bench_speed(args.threads, args.repeats)
        print(json.dumps({"speed": results["speed"]}), flush=True)
    if args.part in ("memory", "all"):
        results["memory"] = bench_memory(args.threads, args.megapixels, args.memory_tiles)
        print(json.dumps({"memory": results["memory"]}), flush=True)
        # The model's own memory per megapixel: a DPDD-sized photo in one pass (no tiling).
        small = bench_memory(args.threads, 0.69, 0)  # 1017 x 678: under the 1024 CPU tile
        used = small["peak_rss_gib"] - small["rss_before_the_photo_gib"]  # includes the photo buffers
        small["model_gib_per_mp"] = round(used / small["megapixels"], 2)
        results["memory_one_pass"] = small
        print(json.dumps({"memory_one_pass": small}), flush=True)
    if args.part in ("tiling", "all"):
        configs = [(int(t), int(o)) for t, o in (pair.split(":") for pair in args.tiles.split(",") if pair)]
        results["tiling"] = bench_tiling(args.threads, args.images, configs)
        print(json.dumps({"tiling": results["tiling"]}), flush=True)
    if not any(part.get("trained_weights") for part in results.values() if isinstance(part, dict)):
        print("note: no trained weights yet: a randomly initialised model was measured", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
