"""The README's set-up commands are the ones CI runs."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    return [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("python3 -m venv")]


def test_readme_opens_with_the_two_setup_commands():
    main_job, tests = _commands()[:2]
    assert main_job.startswith("python3 -m venv .venv") and "pip install torch==2.13.0" in main_job
    assert main_job.endswith("autoprune search")
    assert tests.endswith("python -m pytest -q")
    # torch's CPU build is installed before anything that depends on torch
    assert tests.index("pip install torch==2.13.0") < tests.index("pip install -e")


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _commands()[1] in ci
