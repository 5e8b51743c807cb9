"""Named registries, one per extension point.

Strings exist only at the YAML / CLI edge; everywhere else code holds objects. A registry
turns a name into its object, lists the valid names when a name is wrong (the CLI's
``choices`` and the YAML validation read the same list) and accepts third-party
registrations::

    from autoprune.pruning import GRANULARITIES, Granularity

    @GRANULARITIES.register("blocks")
    class Blocks(Granularity):
        ...

Every extension point's registry is declared here, so this module is the index of what
can be extended. The implementations register themselves where they are defined
(``autoprune.pruning``, ``autoprune.search``, ``autoprune.tracking``, ``autoprune.tasks``);
``import autoprune`` imports them all.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Iterator, TypeVar

from autoprune.errors import ConfigError

__all__ = [
    "Registry",
    "CRITERIA",
    "LAYER_CRITERIA",
    "GRANULARITIES",
    "ALLOCATIONS",
    "SCHEDULES",
    "TIMINGS",
    "TRIAL_PRUNERS",
    "BACKENDS",
    "EXECUTORS",
    "TRACKERS",
    "TASKS",
]

T = TypeVar("T")


class Registry(Generic[T]):
    """Objects (instances, classes or factories) of one extension point, by name.

    Args:
        field: the setting this registry resolves, as a user writes it (``granularity``);
            error messages name it.

    Example:
        >>> colours = Registry("colour")
        >>> colours.register("red", 0xFF0000)
        16711680
        >>> colours.get("blue")
        Traceback (most recent call last):
        ...
        autoprune.errors.ConfigError: colour must be one of red, but got colour='blue'.
    """

    def __init__(self, field: str) -> None:
        self.field = field
        self._entries: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None, *, replace: bool = False) -> Any:
        """Register ``obj`` under ``name``; without ``obj``, a decorator that registers.

        A class decorated this way is registered as the class itself; registries whose
        entries are used as instances (criteria, granularities, ...) instantiate it with
        no arguments, see :meth:`register_instance`.

        Raises:
            ConfigError: ``name`` is already taken (pass ``replace=True`` to override).
        """
        if obj is None:
            def decorator(value: T) -> T:
                self.register(name, value, replace=replace)
                return value

            return decorator
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a {self.field} name must be a non-empty string, but got {name!r}.")
        if name in self._entries and not replace:
            raise ConfigError(
                f"{self.field} {name!r} is already registered; pass replace=True to override it."
            )
        self._entries[name] = obj
        return obj

    def register_instance(self, name: str, *, replace: bool = False) -> Callable[[type], type]:
        """Class decorator: register one instance of the class (built with no arguments)."""

        def decorator(cls: type) -> type:
            instance = cls()
            if getattr(instance, "name", None) in (None, ""):
                try:
                    instance.name = name
                except AttributeError:
                    pass
            self.register(name, instance, replace=replace)  # type: ignore[arg-type]
            return cls

        return decorator

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests and plug-ins that register temporarily)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The object registered under ``name``.

        Raises:
            ConfigError: no such name; the message lists the valid ones.
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ConfigError(
                f"{self.field} must be one of {', '.join(self._entries)}, but got {self.field}={name!r}."
            ) from None

    def resolve(self, value: str | T) -> T:
        """``value`` itself when it is not a name, else :meth:`get` of it."""
        return self.get(value) if isinstance(value, str) else value

    def name_of(self, obj: Any) -> str | None:
        """The name ``obj`` is registered under (by identity, or the class of an instance)."""
        for name, entry in self._entries.items():
            if entry is obj or (isinstance(entry, type) and type(obj) is entry):
                return name
        return None

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.field!r}: {', '.join(self._entries)})"


# The pruning layer (autoprune.pruning): instances.
CRITERIA: Registry[Any] = Registry("criterion")
LAYER_CRITERIA: Registry[Any] = Registry("layer_criterion")  # which whole layers / blocks go first
GRANULARITIES: Registry[Any] = Registry("granularity")
ALLOCATIONS: Registry[Any] = Registry("allocation")
SCHEDULES: Registry[Any] = Registry("schedule")
TIMINGS: Registry[Any] = Registry("timing")
# The search layer (autoprune.search): classes or factories, built with their options.
TRIAL_PRUNERS: Registry[Any] = Registry("trial_pruner")
BACKENDS: Registry[Any] = Registry("backend")
EXECUTORS: Registry[Any] = Registry("executor")
# Trackers (autoprune.tracking) and tasks (autoprune.tasks): factories.
TRACKERS: Registry[Any] = Registry("tracker")
TASKS: Registry[Any] = Registry("task")
