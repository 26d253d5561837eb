"""Finding, verifying and (when absent) downloading the LPIPS v0.1 AlexNet weights.

Two safetensors files, looked for together in one folder, in this order:
  1. the folder passed by the caller (`--lpips-dir DIR`),
  2. $FDIKP_LPIPS_DIR,
  3. the user cache: $XDG_CACHE_HOME/fdikp/lpips, by default ~/.cache/fdikp/lpips,
  4. in a source checkout only, the shared folder beside it that `make test` uses:
     ../shared/weights/lpips (or $FDIKP_SHARED_DIR/weights/lpips), a development convenience.
Where none holds both, they are downloaded from the official public URLs (torchvision's
AlexNet, the LPIPS repository's alex.pth), converted from pickle (loaded with
`torch.load(weights_only=True)`, which executes no code) and written into the cache.

Every file is verified before use: either its sha256 equals the pinned sha256 of the canonical
file, or the sha256 of the tensors it holds (names, dtypes, shapes, bytes) equals the pinned
one. The second check is what a converted download passes (its metadata differs from the
canonical files'), and what a corrupted or foreign file fails. LPIPS numbers computed with other
weights would not be comparable with published ones, so a mismatch is an error, not a warning.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from fdikp_cli.hashing import sha256_file
from fdikp_cli.errors import LpipsWeightsMissing

FEATURES_FILE = "alexnet_features_imagenet1k_v1.safetensors"
HEADS_FILE = "lpips_v0.1_linear_heads.safetensors"
ENV_VAR = "FDIKP_LPIPS_DIR"
SHARED_ENV_VAR = "FDIKP_SHARED_DIR"  # the shared data folder of a checkout (as the tests read it)

ALEXNET_CONV_INDICES = (0, 3, 6, 8, 10)  # torchvision alexnet.features indices of the conv layers
FEATURE_KEYS = tuple(f"features.{i}.{part}" for i in ALEXNET_CONV_INDICES for part in ("weight", "bias"))
HEAD_KEYS = tuple(f"alex.lin{i}.weight" for i in range(5))

# sha256 of the canonical files (the ones distributed beside the project in shared/weights/lpips).
FILE_SHA256 = {
    FEATURES_FILE: "081a6e5838d4701ce271fd99c1047f4944386aabe0ba6f69454901ab890cc92a",
    HEADS_FILE: "682501c867deff65dc310ccf75aa1e78ab63fb0a096dcd49d9d8d8017277093b",
}
# sha256 of the tensors used (see tensors_sha256), computed from the same canonical files.
TENSORS_SHA256 = {
    FEATURES_FILE: "3ff4dcbf83261b519a03b4d95e695231c3613bbb239bf09ffb0f8c59b31f6678",
    HEADS_FILE: "45853e7d58cbeb65eb57dcacb28808593e2241f391b69134c384f99807066b1f",
}


@dataclass(frozen=True)
class DownloadSource:
    """An official pickle file and the prefix of its sha256 that its publisher pins (if any)."""

    url: str
    sha256_prefix: str | None


DOWNLOAD_SOURCES = {
    # torchvision names its files after the first 8 hex digits of their sha256 and checks them.
    FEATURES_FILE: DownloadSource("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "7be5be79"),
    HEADS_FILE: DownloadSource(
        "https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/master/lpips/weights/v0.1/alex.pth", None
    ),
}

Fetcher = Callable[[str, Path], None]
"""Downloads a URL into a file; raises OSError (URLError is one) or HTTPException on failure."""


@dataclass(frozen=True)
class LpipsWeights:
    """Verified LPIPS tensors and where they came from."""

    features: dict[str, torch.Tensor]  # FEATURE_KEYS -> tensor (torchvision alexnet layout)
    heads: dict[str, torch.Tensor]  # HEAD_KEYS -> (1, C, 1, 1), non-negative
    directory: Path
    origin: str  # "argument", "FDIKP_LPIPS_DIR", "cache", "checkout" or "download"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "fdikp" / "lpips"


def checkout_lpips_dir() -> Path | None:
    """The LPIPS folder of the shared data beside a source checkout, where `make test` finds the
    weights: $FDIKP_SHARED_DIR/weights/lpips, else ../shared/weights/lpips next to the repository.
    None for an installed package (no pyproject.toml above it) or when the folder is absent."""
    shared = os.environ.get(SHARED_ENV_VAR)
    if shared:
        folder = Path(shared).expanduser() / "weights" / "lpips"
    else:
        repository = Path(__file__).resolve().parents[2]  # metrics/ -> fdikp_cli/ -> the checkout
        if not (repository / "pyproject.toml").is_file():
            return None
        folder = repository.parent / "shared" / "weights" / "lpips"
    return folder if folder.is_dir() else None


def candidate_dirs(weights_dir: str | Path | None = None, cache_dir: Path | None = None) -> list[tuple[str, Path]]:
    """The folders searched, in order, each with the name of where it came from."""
    found: list[tuple[str, Path]] = []
    if weights_dir is not None:
        found.append(("argument", Path(weights_dir).expanduser()))
    env = os.environ.get(ENV_VAR)
    if env:
        found.append((ENV_VAR, Path(env).expanduser()))
    found.append(("cache", cache_dir if cache_dir is not None else default_cache_dir()))
    checkout = checkout_lpips_dir()
    if checkout is not None:
        found.append(("checkout", checkout))
    return found


def tensors_sha256(tensors: dict[str, torch.Tensor], keys: tuple[str, ...]) -> str:
    """sha256 over name, dtype, shape and little-endian bytes of each key, in sorted order."""
    digest = hashlib.sha256()
    for key in sorted(keys):
        tensor = tensors[key].detach().cpu().contiguous()
        dtype = str(tensor.dtype).removeprefix("torch.")
        digest.update(f"{key}|{dtype}|{list(tensor.shape)}\n".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def _keys_for(file_name: str) -> tuple[str, ...]:
    return FEATURE_KEYS if file_name == FEATURES_FILE else HEAD_KEYS


def _verify(tensors: dict[str, torch.Tensor], file_name: str, where: str) -> None:
    keys = _keys_for(file_name)
    missing = [k for k in keys if k not in tensors]
    if missing:
        raise LpipsWeightsMissing(f"{where} lacks the tensors {', '.join(missing)}; it is not the LPIPS weights file")
    actual = tensors_sha256(tensors, keys)
    if actual != TENSORS_SHA256[file_name]:
        raise LpipsWeightsMissing(
            f"{where} does not hold the pinned LPIPS v0.1 AlexNet weights (tensor sha256 {actual[:12]}…, "
            f"expected {TENSORS_SHA256[file_name][:12]}…); LPIPS from other weights is not comparable. "
            "Delete or replace the file."
        )


def read_verified(path: Path) -> dict[str, torch.Tensor]:
    """Load the tensors LPIPS needs from one of the two files, verified against the pins."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    file_name = path.name
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise LpipsWeightsMissing(f"{path} is not a readable safetensors file: {exc}") from None
    if sha256_file(path) != FILE_SHA256[file_name]:
        _verify(tensors, file_name, str(path))
    return {key: tensors[key] for key in _keys_for(file_name)}


def fetch_url(url: str, destination: Path, timeout_s: float = 60.0) -> None:
    """Download `url` into `destination` (the default Fetcher)."""
    request = urllib.request.Request(url, headers={"User-Agent": "fdikp"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response, open(destination, "wb") as out:
        shutil.copyfileobj(response, out)


def _load_pickled_state(path: Path, url: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not the expected file"
        raise LpipsWeightsMissing(f"the file downloaded from {url} cannot be read as a state dict: {exc}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise LpipsWeightsMissing(f"the file downloaded from {url} is not a state dict of tensors")
    return state


_HEAD_KEY = re.compile(r"^lin(\d)\.(?:model\.\d+\.)?weight$")  # official: lin{i}.model.1.weight


def convert_features(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision AlexNet state dict -> the conv tensors of `features` (same names)."""
    return {key: state[key].float().contiguous() for key in FEATURE_KEYS if key in state}


def convert_heads(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official LPIPS alex.pth (lin{i}.model.1.weight) -> alex.lin{i}.weight."""
    heads: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _HEAD_KEY.match(key)
        if match:
            heads[f"alex.lin{match.group(1)}.weight"] = value.float().contiguous()
    return heads


def _download_one(file_name: str, cache_dir: Path, fetcher: Fetcher, work_dir: Path) -> None:
    from safetensors.torch import save_file

    source = DOWNLOAD_SOURCES[file_name]
    pickle_path = work_dir / (file_name + ".pth")
    try:
        fetcher(source.url, pickle_path)
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError is an OSError
        raise LpipsWeightsMissing(f"cannot download {source.url}: {exc}") from None
    if source.sha256_prefix and not sha256_file(pickle_path).startswith(source.sha256_prefix):
        raise LpipsWeightsMissing(f"the file downloaded from {source.url} fails its sha256 check (corrupt download?)")
    state = _load_pickled_state(pickle_path, source.url)
    converter = convert_features if file_name == FEATURES_FILE else convert_heads
    tensors = converter(state)
    _verify(tensors, file_name, f"the file downloaded from {source.url}")
    converted = work_dir / file_name
    metadata = {"source": source.url, "source_sha256": sha256_file(pickle_path), "converted_by": "fdikp"}
    save_file(tensors, str(converted), metadata=metadata)
    os.replace(converted, cache_dir / file_name)  # same file system: atomic, never half a file


def download_lpips_weights(cache_dir: Path | None = None, fetcher: Fetcher | None = None) -> Path:
    """Download and convert the files missing from `cache_dir`; returns the folder."""
    cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
    fetcher = fetcher or fetch_url
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        work_dir = Path(tempfile.mkdtemp(prefix=".download-", dir=cache_dir))
    except OSError as exc:
        raise LpipsWeightsMissing(f"cannot create the LPIPS cache folder {cache_dir}: {exc}") from None
    try:
        for file_name in (FEATURES_FILE, HEADS_FILE):
            if not (cache_dir / file_name).is_file():
                _download_one(file_name, cache_dir, fetcher, work_dir)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return cache_dir


def how_to_provide(searched: list[tuple[str, Path]], reason: str = "") -> str:
    """The help message when no weights can be had, one line: where they were looked for (and
    why the download did not help), then how to provide them."""
    labels = {"argument": "the folder given", ENV_VAR: f"${ENV_VAR}", "cache": "the cache",
              "checkout": "the checkout's shared folder"}
    places = ", ".join(f"{labels.get(where, where)} {path}" for where, path in searched)
    why = f"; {reason}" if reason else ""
    return (f"no LPIPS weights in {places}{why}; to provide them, put {FEATURES_FILE} and {HEADS_FILE} "
            f"in a folder and pass --lpips-dir DIR or set {ENV_VAR}=DIR")


def find_lpips_weights(
    weights_dir: str | Path | None = None,
    *,
    download: bool = True,
    fetcher: Fetcher | None = None,
    cache_dir: Path | None = None,
) -> LpipsWeights:
    """Locate (or download) and verify the weights; raises LpipsWeightsMissing with help text."""
    searched = candidate_dirs(weights_dir, cache_dir)
    for origin, directory in searched:
        if (directory / FEATURES_FILE).is_file() and (directory / HEADS_FILE).is_file():
            return LpipsWeights(
                read_verified(directory / FEATURES_FILE), read_verified(directory / HEADS_FILE), directory, origin
            )
    if not download:
        raise LpipsWeightsMissing(how_to_provide(searched, "download disabled"))
    cache = next(directory for origin, directory in searched if origin == "cache")
    try:
        download_lpips_weights(cache, fetcher)
    except LpipsWeightsMissing as exc:
        raise LpipsWeightsMissing(how_to_provide(searched, f"download failed: {exc}")) from None
    return LpipsWeights(read_verified(cache / FEATURES_FILE), read_verified(cache / HEADS_FILE), cache, "download")
