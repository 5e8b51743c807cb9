"""A trial pruner's options, declared once with their types and bounds, checked in one place."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from autoprune.errors import ConfigError

__all__ = ["Option", "check_arguments", "check_directions"]

_KINDS = ("int", "float", "bool", "int|auto")


@dataclass(frozen=True)
class Option:
    """One option of a trial pruner.

    Args:
        kind: ``int``, ``float`` (any finite number), ``bool`` or ``int|auto`` (an
            integer or the string ``auto``).
        low: the smallest value allowed (numbers).
        high: the largest value allowed, or None.
        optional: None turns the option off (Python API; a search space may not write
            ``null``).

    Example:
        >>> Option("float", 0, 100).check("percentile", 101)
        Traceback (most recent call last):
        ...
        autoprune.errors.ConfigError: percentile must be a number in [0, 100], but got percentile=101.
    """

    kind: str
    low: float = 0.0
    high: float | None = None
    optional: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ConfigError(f"an option's kind must be one of {', '.join(_KINDS)}, but got kind={self.kind!r}.")

    def check(self, name: str, value: Any) -> None:
        """Raise ConfigError unless ``value`` fits (None never does here).

        Raises:
            ConfigError: names the option, the value received and what is allowed.
        """
        if self.kind == "int|auto" and value == "auto":
            return
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"{name} must be true or false, but got {name}={value!r}.")
            return
        if self.kind in ("int", "int|auto"):
            ok = isinstance(value, int) and not isinstance(value, bool)
            what = "an integer" + (" or 'auto'" if self.kind == "int|auto" else "")
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            what = "a number"
        if ok and value >= self.low and (self.high is None or value <= self.high):
            return
        bounds = f">= {self.low:g}" if self.high is None else f"in [{self.low:g}, {self.high:g}]"
        raise ConfigError(f"{name} must be {what} {bounds}, but got {name}={value!r}.")


    def json_schema(self) -> dict[str, Any]:
        """The option as JSON Schema (for the search space's schema).

        Example:
            >>> Option("int|auto", 1).json_schema()
            {'anyOf': [{'type': 'integer', 'minimum': 1}, {'const': 'auto'}]}
        """
        if self.kind == "bool":
            return {"type": "boolean"}
        bounds: dict[str, Any] = {"minimum": self.low}
        if self.high is not None:
            bounds["maximum"] = self.high
        if self.kind == "int|auto":
            return {"anyOf": [{"type": "integer", **bounds}, {"const": "auto"}]}
        return {"type": "integer" if self.kind == "int" else "number", **bounds}


def check_arguments(options: Mapping[str, Option], **values: Any) -> None:
    """Check a constructor's arguments against the declared ``options`` (an optional one
    may be None)."""
    for name, value in values.items():
        option = options[name]
        if not (value is None and option.optional):
            option.check(name, value)


# The options the Pareto rules share (declared once; each rule lists those it takes).
N_STARTUP_TRIALS = Option("int", 0)
N_WARMUP_STEPS = Option("int", 0)
MARGIN = Option("float", 0.0)
PERCENTILE = Option("float", 0.0, 100.0)


def check_directions(directions: Mapping[str, str] | None) -> dict[str, str]:
    """``{measure: "min" | "max"}`` as a plain dict.

    Raises:
        ConfigError: a direction other than min or max.
    """
    directions = dict(directions or {})
    for name, direction in directions.items():
        if direction not in ("min", "max"):
            raise ConfigError(f"directions[{name!r}] must be min or max, but got {direction!r}.")
    return directions
