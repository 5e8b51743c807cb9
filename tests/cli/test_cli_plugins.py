"""``--plugin`` and autoprune._plugins: user modules that register implementations."""

from __future__ import annotations

import sys
import textwrap
from types import SimpleNamespace

import pytest

from autoprune import _plugins
from autoprune.cli import main
from autoprune.errors import ConfigError
from autoprune.registry import CRITERIA


@pytest.fixture
def plugin_file(tmp_path):
    path = tmp_path / "my_criterion.py"
    path.write_text(textwrap.dedent('''
        from autoprune.pruning import CRITERIA, Criterion, effective_weight

        @CRITERIA.register_instance("magnitude_max_test")
        class MagnitudeMax(Criterion):
            def weight_scores(self, layers, model, task=None, recipe=None):
                return {n: effective_weight(m).detach().abs() for n, m in layers}
    '''))
    yield path
    CRITERIA.unregister("magnitude_max_test")
    _plugins._loaded.pop(str(path), None)
    for name in [n for n in sys.modules if n.startswith("autoprune_plugin_my_criterion_")]:
        del sys.modules[name]


def test_file_plugin_registers_on_import(plugin_file) -> None:
    assert "magnitude_max_test" not in CRITERIA
    module = _plugins.load_plugin(str(plugin_file))
    assert CRITERIA.get("magnitude_max_test").name == "magnitude_max_test"
    assert _plugins.load_plugin(str(plugin_file)) is module  # once per process


def test_module_plugin(plugin_file, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(plugin_file.parent))
    _plugins.load_plugin("my_criterion")
    assert "magnitude_max_test" in CRITERIA
    sys.modules.pop("my_criterion", None)
    _plugins._loaded.pop("my_criterion", None)


def test_cli_plugin_is_loaded_before_the_command(plugin_file, capsys) -> None:
    # the recipe names the plug-in's criterion: it must be registered before --set is read
    code = main(["--plugin", str(plugin_file), "trial", "--set", "criterion=magnitude_max_test",
                 "keep_layers=nope", "--json"])
    assert code == 2
    err = capsys.readouterr().err
    assert "keep_layers must name modules of the model, but got 'nope'" in err  # past the recipe check


@pytest.mark.parametrize(
    "spec, message",
    [
        ("no_such_module_xyz", r"plugin='no_such_module_xyz' failed to import: ModuleNotFoundError"),
        ("missing/file.py", r"plugin='missing/file.py': file .* does not exist"),
    ],
)
def test_bad_plugins_fail_in_one_line(spec, message, capsys) -> None:
    with pytest.raises(ConfigError, match=message):
        _plugins.load_plugin(spec)
    assert main(["--plugin", spec, "tasks"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("autoprune: error: plugin=") and "\n" not in err


def test_plugin_that_raises_is_reported(tmp_path) -> None:
    bad = tmp_path / "broken.py"
    bad.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ConfigError, match=r"plugin=.*broken.py' failed to import: RuntimeError: boom"):
        _plugins.load_plugin(str(bad))


def test_entry_point_plugins(monkeypatch) -> None:
    loaded = []
    ep = SimpleNamespace(name="mine", value="mypkg.pruning", module="autoprune.registry",
                         load=lambda: loaded.append(1) or sys.modules["autoprune.registry"])
    monkeypatch.setattr(_plugins.importlib.metadata, "entry_points",
                        lambda group: [ep] if group == "autoprune.plugins" else [])
    try:
        assert _plugins.load_entry_point_plugins() == ["mine"]
        assert _plugins.load_entry_point_plugins() == ["mine"] and loaded == [1]  # loaded once
    finally:
        _plugins._loaded.pop("entry-point:mine=mypkg.pruning", None)


def test_entry_point_that_fails(monkeypatch) -> None:
    def boom():
        raise ImportError("no module named mypkg")

    ep = SimpleNamespace(name="bad", value="mypkg:x", module="mypkg", load=boom)
    monkeypatch.setattr(_plugins.importlib.metadata, "entry_points", lambda group: [ep])
    with pytest.raises(ConfigError, match=r"plugin entry point 'bad' \(mypkg:x\) failed to load: ImportError"):
        _plugins.load_entry_point_plugins()
