"""Resuming promises the same run: settings that differ from the run's config.toml are refused.

`fdikp train --resume auto --crop 96` on a run made with `--crop 64` used to train on at 96 and
rewrite config.toml. Now each difference is named and the resume refused, unless the user asks
for it (`--allow-config-change`): then the changes are returned for the run to record.

Some settings belong to one session, not to the run, and may differ on every resume
(SESSION_KEYS): where it runs, how fast it loads data, how often it logs or checkpoints, where
it stops (`--max-steps` is not even saved in config.toml).
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fdikp_cli.errors import ConfigError
from fdikp_cli.training.config import TrainConfig, resolve

SESSION_KEYS = frozenset({
    "run.out",  # --resume PATH may continue a run into another folder
    "run.max_steps",
    "run.device",
    "data.workers",
    "data.cache_mb",
    "run.log_every",
    "run.checkpoint_every",
})
_ABSENT = "(absent)"


@dataclass(frozen=True)
class Change:
    """One setting whose value differs from the run's saved configuration."""

    key: str  # dotted, as --set spells it: "stages.0.crop"
    saved: Any
    wanted: Any

    def describe(self) -> str:
        return f"{self.key} {_show(self.saved)} -> {_show(self.wanted)}"

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "saved": _plain(self.saved), "now": _plain(self.wanted)}


def _show(value: Any) -> str:
    return value if value is _ABSENT else repr(_plain(value))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def flatten(values: Any, prefix: str = "") -> dict[str, Any]:
    """{"stages": [{"crop": 64}], "run": {"seed": 0}} -> {"stages.0.crop": 64, "run.seed": 0};
    lists of scalars (betas, milestones) stay values."""
    if isinstance(values, dict):
        items = values.items()
    elif isinstance(values, list) and any(isinstance(v, dict) for v in values):
        items = ((str(i), v) for i, v in enumerate(values))
    else:
        return {prefix: values}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):  # --lr 1e-4 scales later stages: x * y / x
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-9)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def config_changes(saved: TrainConfig, wanted: TrainConfig) -> list[Change]:
    """Every setting (outside SESSION_KEYS) whose value differs, in key order."""
    old, new = flatten(saved.to_dict()), flatten(wanted.to_dict())
    changes = []
    for key in sorted(old.keys() | new.keys()):
        if key in SESSION_KEYS:
            continue
        a, b = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if (a is _ABSENT) != (b is _ABSENT) or not _same(a, b):
            changes.append(Change(key, a, b))
    return changes


def saved_config(run_dir: Path) -> TrainConfig | None:
    """The configuration in RUN_DIR/config.toml, None when the run has none."""
    path = run_dir / "config.toml"
    return resolve(None, path, {}, []) if path.is_file() else None


def check_resume_config(run_dir: Path, wanted: TrainConfig, allow: bool = False) -> list[Change]:
    """The changes from the resumed run's saved configuration; ConfigError naming each of them
    unless `allow`."""
    saved = saved_config(run_dir)
    if saved is None:
        return []
    changes = config_changes(saved, wanted)
    if changes and not allow:
        listed = "; ".join(change.describe() for change in changes)
        raise ConfigError(
            f"resuming {run_dir} with settings that differ from its config.toml: {listed}. A resumed run keeps "
            "its settings: leave these options out, start a new run (another --output), or pass "
            "--allow-config-change to change them (recorded in run.json)"
        )
    return changes


def change_record(step: int, changes: list[Change]) -> dict[str, Any]:
    """One entry of run.json's `config_changes`: at which step, when, and what changed."""
    return {
        "step": step,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "changes": [change.as_dict() for change in changes],
    }
