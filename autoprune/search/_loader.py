"""Search space files: the shipped ones, safe YAML reading, the JSON Schema file.

Reading gives the mapping :func:`autoprune.search._space.parse_space` validates; a YAML
mistake is one :class:`~autoprune.errors.ConfigError` line with the file and line.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from autoprune.errors import ConfigError
from autoprune.search._schema import space_json_schema

__all__ = ["builtin_spaces", "read_space_file", "write_space_schema", "SCHEMA_FILE"]

#: the schema file beside the shipped spaces (editors: ``# yaml-language-server: $schema=schema.json``)
SCHEMA_FILE = "schema.json"


class _Loader(yaml.SafeLoader):
    """Safe YAML that rejects duplicate keys and reads ``1e-4`` as a number."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key != "<<" and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 wants a dot in floats, so "1e-4" would be a string; YAML 1.2 and users don't
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _source_folder() -> Path:
    return Path(__file__).resolve().parents[2] / "search_spaces"


def builtin_spaces() -> dict[str, Path]:
    """The shipped spaces by name (``default``, ``unstructured``, ...)."""
    found: dict[str, Path] = {}
    # the source checkout's search_spaces/ first, then the installed copy
    # a wheel installs them under <prefix>/share/autoprune (pyproject data-files)
    installed = Path(sys.prefix) / "share" / "autoprune" / "search_spaces"
    for folder in (_source_folder(), installed):
        for path in sorted(folder.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def read_space_file(path: str | Path) -> tuple[Any, str]:
    """The parsed YAML of a space file, or of a shipped space by name, and its source
    (as error messages name it). A file without ``name`` takes its stem.

    Raises:
        ConfigError: missing file or malformed YAML (with its line).
    """
    source = str(path)
    file = Path(path)
    if not file.is_file():
        builtin = builtin_spaces()
        if source not in builtin:
            raise ConfigError(
                f"{source}: no such search space file; built-in spaces: {', '.join(sorted(builtin))}."
            )
        file = builtin[source]
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: malformed YAML: {problem}.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: byte {exc.start} is not UTF-8 ({exc.object[exc.start:exc.start + 1]!r}); "
                          f"allowed: a UTF-8 YAML file.") from None
    if isinstance(data, dict) and "name" not in data:
        data = {"name": re.sub(r"[^A-Za-z0-9_.-]", "-", file.stem), **data}
    return data, source


def write_space_schema(path: str | Path | None = None) -> Path:
    """Write the JSON Schema of search space files (default: ``search_spaces/schema.json``
    of the source checkout) and return its path.

    Example:
        >>> write_space_schema(tmp / "schema.json").name  # doctest: +SKIP
        'schema.json'
    """
    target = Path(path) if path is not None else _source_folder() / SCHEMA_FILE
    target.write_text(json.dumps(space_json_schema(), indent=2) + "\n", encoding="utf-8")
    return target
