"""Benchmarks of `fdikp deblur` on CPU: speed, peak memory of a large photo, tiled vs whole.

    .venv/bin/python -m benchmarks.bench_deblur --part speed      # s/MP, 1024x683, --precision (auto)
    .venv/bin/python -m benchmarks.bench_deblur --part memory     # peak RSS, 24 MP photo, default tile
    .venv/bin/python -m benchmarks.bench_deblur --part tiling     # tiled vs whole, DPDD val
    .venv/bin/python -m benchmarks.bench_deblur --part precision --threads 1   # fp32 vs bf16, 256x256
    .venv/bin/python -m benchmarks.bench_deblur                   # all four

Data: the DPDD val pairs in ../shared/data/dpdd-canon-iso/val (or $FDIKP_SHARED_DIR).
Model: the shipped weights if present, else a random model (said in the output: the quality
numbers then say nothing about deblurring, only about how much tiling changes the result).

Memory is the peak resident set (ru_maxrss) of a child process that runs the whole file
pipeline (read a 6000x4000 JPEG, tiled inference, write the JPEG), so nothing else in this
process counts. By default the child runs the model on the first --memory-tiles tiles only
and passes the rest through unchanged: the peak is reached in the first tile (the host
buffers exist from the start), and the full 35-tile run takes ~10 minutes on 2 cores.
--memory-tiles 0 runs every tile.

The precision part compares fp32 with bf16 autocast in one process: forward time (interleaved
repeats after one warm-up each, median; the ratio is fp32 / bf16) and s/MP on a centre crop
(--crop, default 256) of the first DPDD val photo, the PSNR of the bf16 output against the fp32
output, and how much each moves the PSNR against the sharp target. Then the peak RSS per pixel
of one whole forward at --precision-memory-side (default 512) in a child process per precision.
Speed and memory use `--precision` (default auto: what `fdikp deblur` runs, bf16 on CPUs with
native bf16); the tiling part runs in fp32.

The tiling part reports per config `tiled_change_ratio` = mean |tiled - whole| / mean |whole -
input| (issue 24's measure, target <= 0.15), with the tiles sharing the global context pass
(`context` "whole", restore's default) or each on its own ("tile"): `--tiles 256:64,256:64:tile`.
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


def _dtype(precision: str):  # noqa: ANN202
    import torch

    from fdikp_cli.inference.device import resolve_precision

    return resolve_precision(precision, torch.device("cpu"))


def bench_speed(threads: int, repeats: int, precision: str = "auto") -> dict:
    """Seconds per megapixel on CPU in `precision`, default tile (a 1024x683 photo runs whole)."""
    import torch

    from fdikp_cli.inference.device import precision_name, use_fast_memory_format
    from fdikp_cli.inference.restore import restore_detailed

    loaded = _load(threads)
    dtype = _dtype(precision)
    use_fast_memory_format(loaded.model, torch.device("cpu"), dtype)  # as `fdikp deblur` prepares it
    source = sorted((VAL / "source").glob("*.png"))[0]
    image = _read_float(source)
    megapixels = image.shape[-1] * image.shape[-2] / 1e6
    times, cpu_times, tiles = [], [], 0
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = restore_detailed(loaded.model, image, tile="auto", device="cpu", dtype=dtype)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
        tiles = result.tiles
    best, median = min(times), sorted(times)[len(times) // 2]
    return {
        "image": source.name, "size": list(image.shape[-2:]), "threads": threads, "tiles": tiles,
        "precision": precision_name(dtype), "trained_weights": loaded.trained, "seconds": [round(t, 2) for t in times],
        "s_per_mp_median": round(median / megapixels, 2), "s_per_mp_best": round(best / megapixels, 2),
        # CPU seconds (all threads) per MP: less sensitive to other jobs on a shared machine.
        "cpu_s_per_mp_median": round(sorted(cpu_times)[len(cpu_times) // 2] / megapixels, 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }  # fmt: skip


def bench_memory(threads: int, megapixels: float, memory_tiles: int, precision: str = "auto") -> dict:
    """Peak RSS of a child process deblurring a ~`megapixels` JPEG with the default tile."""
    command = [
        sys.executable, "-m", "benchmarks.bench_deblur", "--child-memory", "--threads", str(threads),
        "--megapixels", str(megapixels), "--memory-tiles", str(memory_tiles), "--precision", precision,
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"memory child failed:\n{completed.stdout}\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _memory_child(threads: int, megapixels: float, memory_tiles: int, precision: str) -> None:
    import cv2
    import numpy as np

    from fdikp_cli.inference.batch import DeblurOptions, Engine, deblur_files
    from fdikp_cli.inference.device import precision_name

    loaded = _load(threads)
    dtype = _dtype(precision)
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
        summary = deblur_files([photo], DeblurOptions(), Engine(first_tiles_only, dtype=dtype))
        seconds = time.perf_counter() - started
    result = summary.results[0]
    if result.status != "done":
        raise SystemExit(f"deblur failed: {result.reason}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({
        "size": [height, width], "megapixels": round(width * height / 1e6, 1), "threads": threads,
        "precision": precision_name(dtype), "tiles": result.tiles, "tiles_through_the_model": min(calls["model"], memory_tiles or calls["model"]),
        "peak_rss_gib": round(peak / 2**20, 2), "rss_before_the_photo_gib": round(baseline / 2**20, 2),
        "seconds": round(seconds, 1), "trained_weights": loaded.trained,
    }))  # fmt: skip


def bench_tiling(threads: int, images: int, configs: list[tuple[int | str, int, str]]) -> dict:
    """Tiled vs whole outputs (PSNR, largest difference, the change ratio), and each against
    the ground truth. A config is (tile, overlap, context): context "whole" (restore's default:
    the tiles share one global context pass) or "tile" (each tile on its own)."""
    from fdikp_cli.inference.restore import DEFAULT_OVERLAP, restore_detailed

    loaded = _load(threads)
    configs = [("auto", DEFAULT_OVERLAP, "whole"), *configs]
    rows = []
    for source in sorted((VAL / "source").glob("*.png"))[:images]:
        blurry, sharp = _read_float(source), _read_float(VAL / "target" / source.name)
        whole = restore_detailed(loaded.model, blurry, tile=None).image
        whole_vs_gt = _psnr(whole, sharp)
        row = {"image": source.name, "whole_vs_gt_db": round(whole_vs_gt, 3), "configs": []}
        for tile, overlap, context in configs:
            started = time.perf_counter()
            tiled = restore_detailed(loaded.model, blurry, tile=tile, overlap=overlap, device="cpu", context=context)
            vs_gt = _psnr(tiled.image, sharp)
            row["configs"].append({
                "tile": tile, "overlap": overlap, "context": context, "tiles": tiled.tiles,
                # (h, w) of the global context pass (its time is in "seconds"); None: none ran
                "context_size": list(tiled.context_size) if tiled.context_size else None,
                "seconds": round(time.perf_counter() - started, 1),
                # None: one tile, identical to the whole-image result
                "tiled_vs_whole_db": None if tiled.tiles == 1 else round(_psnr(tiled.image, whole), 2),
                "max_abs_diff": round(float((tiled.image - whole).abs().max()), 4),
                # How far tiling moves the output, as a share of what the model changes at all
                # (issue 24's measure; target <= 0.15).
                "tiled_change_ratio": round(float((tiled.image - whole).abs().mean() / (whole - blurry).abs().mean()), 3),
                "tiled_vs_gt_db": round(vs_gt, 3), "gt_delta_db": round(vs_gt - whole_vs_gt, 4),
            })  # fmt: skip
        rows.append(row)
    return {"threads": threads, "trained_weights": loaded.trained, "images": rows}


def bench_precision(threads: int, repeats: int, crop: int, memory_side: int) -> dict:
    """fp32 vs bf16 autocast on CPU, in this process: forward time, s/MP, output PSNR between
    them and against the sharp target; then peak RSS per pixel of each, in child processes."""
    import torch

    from fdikp_cli.inference.device import cpu_has_native_bf16
    from fdikp_cli.inference.restore import restore_detailed

    loaded = _load(threads)
    source = sorted((VAL / "source").glob("*.png"))[0]
    blurry, sharp = _read_float(source), _read_float(VAL / "target" / source.name)
    h, w = blurry.shape[-2:]
    side_h, side_w = min(crop, h), min(crop, w)
    top, left = (h - side_h) // 2, (w - side_w) // 2
    blurry = blurry[..., top : top + side_h, left : left + side_w].contiguous()
    sharp = sharp[..., top : top + side_h, left : left + side_w].contiguous()
    megapixels = side_h * side_w / 1e6
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    outputs, times, cpu_times = {}, {name: [] for name in dtypes}, {name: [] for name in dtypes}
    for name, dtype in dtypes.items():  # warm-up: oneDNN builds its kernels on the first call
        outputs[name] = restore_detailed(loaded.model, blurry, tile=None, device="cpu", dtype=dtype).image
    for _ in range(repeats):  # interleaved, so that a change in machine load hits both alike
        for name, dtype in dtypes.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            restore_detailed(loaded.model, blurry, tile=None, device="cpu", dtype=dtype)
            times[name].append(time.perf_counter() - started)
            cpu_times[name].append(time.process_time() - cpu_started)
    median = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    cpu_median = {name: sorted(t)[len(t) // 2] for name, t in cpu_times.items()}
    fp32, bf16 = outputs["fp32"], outputs["bf16"]
    vs_gt = {name: _psnr(out, sharp) for name, out in outputs.items()}
    result = {
        "image": source.name, "crop": [side_h, side_w], "threads": threads, "repeats": repeats,
        "native_bf16": cpu_has_native_bf16(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "trained_weights": loaded.trained,
        "seconds": {name: [round(t, 3) for t in ts] for name, ts in times.items()},
        "s_per_mp_median": {name: round(t / megapixels, 2) for name, t in median.items()},
        "speedup_fp32_over_bf16": round(median["fp32"] / median["bf16"], 2),
        "cpu_speedup_fp32_over_bf16": round(cpu_median["fp32"] / cpu_median["bf16"], 2),
        "bf16_vs_fp32_psnr_db": round(_psnr(bf16, fp32), 2),
        "bf16_vs_fp32_max_abs_diff": round(float((bf16 - fp32).abs().max()), 5),
        "vs_target_psnr_db": {name: round(v, 4) for name, v in vs_gt.items()},
        "vs_target_delta_db": round(vs_gt["bf16"] - vs_gt["fp32"], 4),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }  # fmt: skip
    if memory_side:
        result["memory"] = {name: _precision_memory(threads, name, memory_side) for name in dtypes}
    return result


def _precision_memory(threads: int, precision: str, side: int) -> dict:
    command = [
        sys.executable, "-m", "benchmarks.bench_deblur", "--child-precision-memory", "--threads", str(threads),
        "--precision", precision, "--precision-memory-side", str(side),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"precision memory child failed:\n{completed.stdout}\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _precision_memory_child(threads: int, precision: str, side: int) -> None:
    """Peak RSS of one whole forward of a side x side image, above the loaded, warmed model."""
    import torch

    from fdikp_cli.inference.restore import restore_detailed

    loaded = _load(threads)
    dtype = _dtype(precision)
    restore_detailed(loaded.model, torch.rand(1, 3, 64, 64), tile=None, device="cpu", dtype=dtype)  # warm-up
    image = torch.rand(1, 3, side, side)
    # Loading the weights leaves a high-water mark above the resident set; reset it (Linux:
    # clear_refs 5 resets VmHWM) so that the peak is the forward's own.
    before = _status_kib("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    restore_detailed(loaded.model, image, tile=None, device="cpu", dtype=dtype)
    peak = _status_kib("VmHWM")
    print(json.dumps({
        "side": side, "peak_rss_mib": round(peak / 1024, 1), "rss_before_mib": round(before / 1024, 1),
        "bytes_per_pixel": round((peak - before) * 1024 / side**2),
    }))  # fmt: skip


def _status_kib(field: str) -> int:
    """A memory line of /proc/self/status in KiB (ru_maxrss where it is absent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _tiling_config(text: str) -> tuple[int, int, str]:
    """'256:64' or '256:64:tile' -> (256, 64, 'whole' or 'tile')."""
    tile, overlap, *rest = text.split(":")
    context = rest[0] if rest else "whole"
    if context not in ("whole", "tile") or len(rest) > 1:
        raise SystemExit(f"--tiles: {text!r} is not tile:overlap[:whole|tile]")
    return int(tile), int(overlap), context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["speed", "memory", "tiling", "precision", "all"], default="all")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--megapixels", type=float, default=24.0)
    parser.add_argument(
        "--memory-tiles", type=int, default=2, help="tiles through the model in the memory run (0: all)"
    )
    parser.add_argument("--images", type=int, default=2, help="DPDD val images for the tiling part")
    parser.add_argument(
        "--tiles", default="512:64,512:128,256:64,256:64:tile",
        help="tiling part: extra tile:overlap[:context] configs, context whole (default) or tile",
    )
    parser.add_argument(
        "--precision", default="auto", help="speed and memory parts: auto (as fdikp deblur), fp32 or bf16"
    )
    parser.add_argument("--crop", type=int, default=256, help="precision part: centre crop side")
    parser.add_argument(
        "--precision-memory-side", type=int, default=512, help="precision part: image side for peak RSS (0: skip)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child-memory", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-precision-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory:
        _memory_child(args.threads, args.megapixels, args.memory_tiles, args.precision)
        return
    if args.child_precision_memory:
        _precision_memory_child(args.threads, args.precision, args.precision_memory_side)
        return
    if not (VAL / "source").is_dir():
        message = f"needs the DPDD val images in {VAL} (set FDIKP_SHARED_DIR)"
        if args.part == "precision":
            print(f"skipped: {message}")
            return
        raise SystemExit(message)
    from fdikp_cli.inference.device import precision_name

    precision = precision_name(_dtype(args.precision))
    results: dict = {
        "machine": f"{os.cpu_count()} CPUs visible, {args.threads} torch threads, CPU {precision} (speed, memory)"
    }
    if args.part in ("speed", "all"):
        results["speed"] = bench_speed(args.threads, args.repeats, args.precision)
        print(json.dumps({"speed": results["speed"]}), flush=True)
    if args.part in ("memory", "all"):
        results["memory"] = bench_memory(args.threads, args.megapixels, args.memory_tiles, args.precision)
        print(json.dumps({"memory": results["memory"]}), flush=True)
        # The model's own memory per megapixel: a DPDD-sized photo in one pass (no tiling).
        small = bench_memory(args.threads, 0.69, 0, args.precision)  # 1017 x 678: under the 1024 CPU tile
        used = small["peak_rss_gib"] - small["rss_before_the_photo_gib"]  # includes the photo buffers
        small["model_gib_per_mp"] = round(used / small["megapixels"], 2)
        results["memory_one_pass"] = small
        print(json.dumps({"memory_one_pass": small}), flush=True)
    if args.part in ("tiling", "all"):
        configs = [_tiling_config(text) for text in args.tiles.split(",") if text]
        results["tiling"] = bench_tiling(args.threads, args.images, configs)
        print(json.dumps({"tiling": results["tiling"]}), flush=True)
    if args.part in ("precision", "all"):
        results["precision"] = bench_precision(args.threads, args.repeats, args.crop, args.precision_memory_side)
        print(json.dumps({"precision": results["precision"]}), flush=True)
    if not any(part.get("trained_weights") for part in results.values() if isinstance(part, dict)):
        print("note: no trained weights yet: a randomly initialised model was measured", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
