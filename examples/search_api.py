"""Run a small search from Python, look at the front, export the knee.

Extension points take names or objects: here a tracker of our own mirrors each trial.

    python examples/search_api.py            # about a minute on 2 cores
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import autoprune


class CountStates(autoprune.Tracker):
    """A tracker is any object with the Tracker hooks it needs (the others do nothing)."""

    def __init__(self) -> None:
        self.states: dict[str, int] = {}

    def log_trial(self, record: dict) -> None:
        self.states[record["state"]] = self.states.get(record["state"], 0) + 1


def main() -> None:
    out = Path(tempfile.mkdtemp(prefix="autoprune-demo-"))
    counter = CountStates()
    result = autoprune.run_search(
        "default",  # a shipped space by name, or a path to a YAML file
        trials=6,
        options=autoprune.RunOptions(out=out / "run"),
        tracker=counter,  # or a name: "none", "neptune", "auto"
    )
    print(f"trials by state: {counter.states}")
    print(f"hypervolume {result.hypervolume:.3f}, front: {[r.number for r in result.pareto_front]}")
    for r in result.pareto_front:
        m = r.measures
        print(f"  trial {r.number}: {r.summary()}: accuracy {m['accuracy']:.4f}, "
              f"latency x{m['latency_ratio']:.2f}, size x{m['size_ratio']:.2f}")
    if result.knee is not None:
        path = result.export(result.knee.number, "torch_export", out / "knee.pt2")
        print(f"knee (trial {result.knee.number}) exported to {path}")
    # a run directory can be reopened later
    again = autoprune.open_run(out / "run")
    assert [r.number for r in again.pareto_front] == [r.number for r in result.pareto_front]


if __name__ == "__main__":
    main()
