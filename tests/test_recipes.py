"""The training recipes shipped in tools/recipes resolve to valid configurations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fdikp_cli.model import FDIKPConfig
from fdikp_cli.training.config import resolve, validate

RECIPES = Path(__file__).resolve().parent.parent / "tools" / "recipes"


@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*.toml")), ids=lambda p: p.name)
def test_training_recipe_is_valid(recipe: Path) -> None:
    config = resolve(None, recipe, {}, [])
    validate(config)
    assert config.stages and all(stage.steps for stage in config.stages)  # recipes fix their length


@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*.json")), ids=lambda p: p.name)
def test_model_recipe_builds_a_configuration(recipe: Path) -> None:
    FDIKPConfig.from_dict(json.loads(recipe.read_text()))


def test_there_are_recipes_to_check() -> None:
    assert len(list(RECIPES.glob("*.toml"))) >= 3 and len(list(RECIPES.glob("*.json"))) >= 2
