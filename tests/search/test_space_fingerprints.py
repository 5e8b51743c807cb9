"""The fingerprints and resolved layouts of existing spaces never change.

A run directory is resumed only when its space's fingerprint matches, and ``to_dict()``
is what a run stores (``space.yaml``, the study's ``space`` attribute). The values in
``pinned_spaces.json`` were computed before the space moved onto a declarative schema.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from autoprune.search._space import load_space, parse_space


ROOT = Path(__file__).resolve().parents[2]
PINNED = json.loads((Path(__file__).with_name("pinned_spaces.json")).read_text())


def _space(key: str, entry: dict):
    if key.startswith("variant:"):
        space = parse_space(copy.deepcopy(entry["input"]), key.removeprefix("variant:"))
        return space.with_overrides(**entry["overrides"]) if "overrides" in entry else space
    return load_space(ROOT / key)


@pytest.mark.parametrize("key", list(PINNED))
def test_fingerprint_and_to_dict_are_unchanged(key: str) -> None:
    entry = PINNED[key]
    space = _space(key, entry)
    assert space.fingerprint() == entry["fingerprint"]
    # key order and int/float included: json text, not dict equality (1 == 1.0)
    assert json.dumps(space.to_dict()) == json.dumps(entry["to_dict"])


@pytest.mark.parametrize("key", list(PINNED))
def test_a_stored_layout_parses_back_to_the_same_space(key: str) -> None:
    space = _space(key, PINNED[key])
    again = parse_space(copy.deepcopy(PINNED[key]["to_dict"]), "stored")
    assert again == space
    assert again.fingerprint() == PINNED[key]["fingerprint"]
