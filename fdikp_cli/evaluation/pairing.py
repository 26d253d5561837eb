"""Which image is compared with which: folder pairing and the test-split layouts of datasets.

Rules (see docs/evaluation-protocol.md of the shared notes):
- Folders pair by file name (the stem: `a.png` pairs with `a.jpg`), and refuse a mismatch,
  listing what is missing on each side.
- DPDD's `test_c` names differ between source and target (1P0A0917 ↔ 1P0A0916): it pairs by
  sorted order, and the counts must agree.
- LFDOF's test inputs carry the aperture in their names (IMG_x_ap*.png ↔ ground_truth/IMG_x.png);
  an input is paired with the ground truth whose stem is the longest `<stem>_` prefix of its
  own stem (or equals it). Inputs in per-scene subfolders (input/IMG_x/*.png) work too.
Every dataset also accepts the plain pairs layout (ROOT/{source,target}) where its own is absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fdikp_cli.data.images import list_images
from fdikp_cli.errors import ConfigError, DatasetError

DatasetName = Literal["dpdd", "lfdof", "realdof", "rtf", "pairs"]
DATASETS: tuple[str, ...] = ("dpdd", "lfdof", "realdof", "rtf", "pairs")
PairBy = Literal["name", "order"]


@dataclass(frozen=True)
class EvalPair:
    """One evaluated image. Folder mode knows the `prediction`; dataset mode knows the blurry
    `source`, from which the model makes the prediction. A known source gives the baseline."""

    name: str
    target: Path
    prediction: Path | None = None
    source: Path | None = None
    aliases: frozenset[str] = field(default_factory=frozenset)  # names label lists may use


@dataclass(frozen=True)
class ResolvedDataset:
    pairs: list[EvalPair]
    layout: str  # how the folder was read, e.g. "dpdd test_c (sorted order)"


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DatasetError(f"{what} not found: {path}")
    return path


def _images(folder: Path, what: str) -> list[Path]:
    images = list_images(_require_dir(folder, what))
    if not images:
        raise DatasetError(f"no images in {folder}")
    return images


def _by_stem(images: list[Path], folder: Path) -> dict[str, Path]:
    table: dict[str, Path] = {}
    for path in images:
        if path.stem in table:
            raise DatasetError(f"{folder}: two images named {path.stem} ({table[path.stem].name}, {path.name})")
        table[path.stem] = path
    return table


def _shown(names: list[str], limit: int = 8) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _aliases(*paths: Path | None) -> frozenset[str]:
    return frozenset(n for p in paths if p is not None for n in (p.stem, p.name))


def pair_by_name(first_dir: Path, target_dir: Path, source_dir: Path | None = None) -> list[EvalPair]:
    """first_dir/X with target_dir/X (and source_dir/X); any mismatch is a DatasetError."""
    firsts = _by_stem(_images(first_dir, "folder"), first_dir)
    targets = _by_stem(_images(target_dir, "target folder"), target_dir)
    sources = _by_stem(_images(source_dir, "source folder"), source_dir) if source_dir is not None else None
    problems: list[str] = []
    no_target = sorted(set(firsts) - set(targets))
    no_first = sorted(set(targets) - set(firsts))
    if no_target:
        problems.append(f"{len(no_target)} in {first_dir} have no target in {target_dir}: {_shown(no_target)}")
    if no_first:
        problems.append(f"{len(no_first)} targets in {target_dir} have no image in {first_dir}: {_shown(no_first)}")
    if sources is not None:
        no_source = sorted(set(firsts) - set(sources))
        if no_source:
            problems.append(f"{len(no_source)} have no source in {source_dir}: {_shown(no_source)}")
    if problems:
        raise DatasetError("images do not pair by name: " + "; ".join(problems))
    pairs = []
    for stem in sorted(firsts):
        source = sources[stem] if sources is not None else None
        pairs.append(EvalPair(stem, targets[stem], firsts[stem], source, _aliases(firsts[stem], targets[stem], source)))
    return pairs


def pair_by_order(first_dir: Path, target_dir: Path, source_dir: Path | None = None) -> list[EvalPair]:
    """The i-th image of each sorted folder together (DPDD test_c); counts must agree."""
    firsts = _images(first_dir, "folder")
    targets = _images(target_dir, "target folder")
    sources = _images(source_dir, "source folder") if source_dir is not None else None
    counts = {str(first_dir): len(firsts), str(target_dir): len(targets)}
    if sources is not None:
        counts[str(source_dir)] = len(sources)
    if len(set(counts.values())) != 1:
        shown = ", ".join(f"{n} in {d}" for d, n in counts.items())
        raise DatasetError(f"cannot pair by sorted order: the folders hold different numbers of images ({shown})")
    pairs = []
    for i, (first, target) in enumerate(zip(firsts, targets)):
        source = sources[i] if sources is not None else None
        pairs.append(EvalPair(first.stem, target, first, source, _aliases(first, target, source)))
    return pairs


def pair_folders(
    first_dir: Path, target_dir: Path, source_dir: Path | None = None, pair_by: PairBy = "name"
) -> list[EvalPair]:
    if pair_by == "order":
        return pair_by_order(Path(first_dir), Path(target_dir), Path(source_dir) if source_dir else None)
    if pair_by != "name":
        raise ConfigError(f"--pair-by must be 'name' or 'order', got {pair_by!r}")
    return pair_by_name(Path(first_dir), Path(target_dir), Path(source_dir) if source_dir else None)


def _source_pairs(pairs: list[EvalPair]) -> list[EvalPair]:
    """Folder pairs of (source, target) -> dataset pairs (the model makes the prediction)."""
    return [EvalPair(p.name, p.target, None, p.prediction, p.aliases) for p in pairs]


def lfdof_pairs(input_dir: Path, truth_dir: Path) -> list[EvalPair]:
    truths = _by_stem(_images(truth_dir, "LFDOF ground_truth folder"), truth_dir)
    _require_dir(input_dir, "LFDOF input folder")
    inputs = list_images(input_dir) + [p for d in sorted(input_dir.iterdir()) if d.is_dir() for p in list_images(d)]
    if not inputs:
        raise DatasetError(f"no images in {input_dir}")
    pairs: list[EvalPair] = []
    unmatched: list[str] = []
    for path in inputs:
        candidates = [s for s in truths if path.stem == s or path.stem.startswith(s + "_")]
        if path.parent != input_dir and path.parent.name in truths:
            candidates.append(path.parent.name)  # input/IMG_x/<anything>.png
        if not candidates:
            unmatched.append(path.name)
            continue
        truth = truths[max(candidates, key=len)]
        name = path.stem if path.parent == input_dir else f"{path.parent.name}/{path.stem}"
        pairs.append(EvalPair(name, truth, None, path, _aliases(path, truth)))
    if unmatched:
        raise DatasetError(f"{len(unmatched)} LFDOF inputs have no ground truth in {truth_dir}: {_shown(unmatched)}")
    return pairs


def _pairs_layout(root: Path, by: PairBy = "name") -> ResolvedDataset | None:
    if (root / "source").is_dir() and (root / "target").is_dir():
        pairs = pair_folders(root / "source", root / "target", pair_by=by)
        return ResolvedDataset(_source_pairs(pairs), f"{root}/{{source,target}} (paired by {by})")
    return None


def resolve_dataset(dataset: DatasetName, data_root: str | Path) -> ResolvedDataset:
    """The test-split pairs of a dataset root; the plain pairs layout is accepted for all."""
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}: choose one of {', '.join(DATASETS)}")
    root = _require_dir(Path(data_root).expanduser(), "dataset folder")
    found: ResolvedDataset | None = None
    if dataset == "dpdd":
        # DPDD source/target names differ: sorted order, in test_c or in a folder laid out like it.
        split = root / "test_c" if (root / "test_c").is_dir() else root
        found = _pairs_layout(split, by="order")
        if found is not None and split != root:
            found = ResolvedDataset(found.pairs, f"{split}/{{source,target}} (DPDD test_c, paired by sorted order)")
    elif dataset == "lfdof":
        for split in (root / "test_data", root):
            if (split / "input").is_dir() and (split / "ground_truth").is_dir():
                pairs = lfdof_pairs(split / "input", split / "ground_truth")
                found = ResolvedDataset(pairs, f"{split}/{{input,ground_truth}} (LFDOF, aperture suffix stripped)")
                break
    elif dataset == "realdof":
        found = _pairs_layout(root / "RealDOF") if (root / "RealDOF").is_dir() else None
    if found is None:
        found = _pairs_layout(root)
    if found is None:
        raise DatasetError(
            f"{root}: no {dataset} test split found (expected {_EXPECTED[dataset]}, or {root}/source and {root}/target)"
        )
    return found


_EXPECTED = {
    "dpdd": "test_c/source and test_c/target",
    "lfdof": "test_data/input and test_data/ground_truth",
    "realdof": "source and target",
    "rtf": "source and target",
    "pairs": "source and target",
}
