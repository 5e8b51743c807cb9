"""examples/custom_pruning.py: a plug-in criterion and granularity, through the contracts and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from autoprune import _plugins
from autoprune.errors import ConfigError
from autoprune.recipe import Recipe
from autoprune.registry import ALLOCATIONS, CRITERIA, GRANULARITIES
from autoprune.testing.pruning import check_allocation, check_criterion, check_granularity

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "custom_pruning.py"


@pytest.fixture
def example() -> Iterator[None]:
    """The example's registrations, for one test only (other tests list the built-in names)."""
    module = _plugins.load_plugin(str(EXAMPLE))
    try:
        yield
    finally:
        CRITERIA.unregister("grad_weighted")
        GRANULARITIES.unregister("block")
        _plugins._loaded.pop(str(EXAMPLE), None)
        sys.modules.pop(module.__name__, None)


def test_example_passes_the_contracts(example) -> None:
    check_criterion(CRITERIA.get("grad_weighted"))
    check_granularity(GRANULARITIES.get("block"))
    for allocation in ("uniform", "global"):
        check_allocation(ALLOCATIONS.get(allocation), granularity="block")


def test_block_refuses_the_sensitivity_allocation(example) -> None:
    with pytest.raises(ConfigError, match="allocation must be uniform or global for granularity=block"):
        Recipe(granularity="block", allocation="sensitivity")
    assert Recipe(granularity="block", sparsity=0.25).summary().startswith("block 0.25 ")


def test_loading_twice_registers_once(example) -> None:
    assert _plugins.load_plugin(str(EXAMPLE)) is _plugins.load_plugin(str(EXAMPLE))
    assert _plugins.loaded_plugins() == (str(EXAMPLE),)


@pytest.mark.e2e
def test_example_runs_through_the_cli() -> None:
    cmd = [
        sys.executable, "-m", "autoprune", "--plugin", str(EXAMPLE), "trial", "--task", "digits-mlp",
        "--set", "granularity=block", "criterion=grad_weighted", "sparsity=0.5", "finetune_epochs=0", "--json",
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    p = json.loads(done.stdout)
    assert p["recipe"]["granularity"] == "block" and p["recipe"]["criterion"] == "grad_weighted"
    assert p["status"] == "complete" and abs(p["sparsity_achieved"] - 0.5) < 1e-9
    assert p["size_bytes"] < p["baseline_size_bytes"]  # stored packed
