"""The Ray executor: trials on Ray workers, decisions in the controller.

- Workers are Ray actors, one per concurrent trial; the baseline goes to the object store
  once (``ray.put``) and each actor keeps it, with the resolved task, between trials.
- With a trial pruner, workers send each fine-tune report to a small async hub actor and
  wait for the controller's decision (continue / stop), so trial pruning works exactly as
  with the local executor; without one there is no hub and workers never wait.
- A worker process that dies mid-trial makes the trial run again, up to ``max_attempts``
  runs, then the trial is FAILED with the reason.
- Devices: a worker given GPUs (``gpus_per_trial`` > 0, fractions allowed) sees only
  those (Ray sets ``CUDA_VISIBLE_DEVICES``), so its trials run on ``cuda:0`` there
  (:func:`autoprune.devices.worker_device`); a worker given none runs ``auto`` on the CPU.
- A task given as an object (a :class:`~autoprune.tasks.ModelTask`) goes to the object
  store once, pickled; a task given by name or path is rebuilt by each worker.
- Latency is measured one trial at a time per node: measuring holds a node-wide file lock
  (see :func:`autoprune.trial.node_latency_lock`), and the dense baseline is measured
  beside the pruned model in the same worker, so ratios stay honest under concurrency.
"""

from __future__ import annotations

import os
from typing import Any

from autoprune._imports import require
from autoprune.errors import TaskError
from autoprune.registry import EXECUTORS
from autoprune.search._executors import Decide, Executor, ExecutorContext, TrialJob, TrialOutcome

__all__ = ["RayExecutor"]

_WAIT_S = 1.0  # the controller's longest sleep (so Ctrl-C is seen promptly)


class _Hub:
    """Fine-tune reports from workers, continue / stop decisions from the controller (an
    async Ray actor, started only when a trial pruner can stop trials).

    A worker's ``report`` call returns when the controller has decided, so a report costs
    one round trip and no polling; the controller's ``next_reports`` returns as soon as a
    report arrives.
    """

    def __init__(self) -> None:
        import asyncio

        self.reports: list[tuple[int, int, int, dict]] = []  # (number, attempt, step, metrics)
        self.pending: dict[tuple[int, int, int], asyncio.Future] = {}
        self.arrived = asyncio.Event()

    async def report(self, number: int, attempt: int, step: int, metrics: dict) -> bool:
        import asyncio

        decision = asyncio.get_running_loop().create_future()
        self.pending[(number, attempt, step)] = decision
        self.reports.append((number, attempt, step, metrics))
        self.arrived.set()
        return await decision

    async def next_reports(self) -> list[tuple[int, int, int, dict]]:
        """The reports since the last call, once there is at least one."""
        await self.arrived.wait()
        self.arrived.clear()
        reports, self.reports = self.reports, []
        return reports

    async def decide(self, number: int, attempt: int, step: int, stop: bool) -> None:
        decision = self.pending.pop((number, attempt, step), None)
        if decision is not None and not decision.done():
            decision.set_result(stop)


class _Worker:
    """One trial at a time (a Ray actor): holds the baseline and the task between trials.
    ``hub`` is None when no trial pruner can stop a trial: reports then go nowhere, and the
    curve comes back with the result."""

    def __init__(self, baseline: Any, hub: Any, task: Any, plugins: tuple[str, ...] = ()) -> None:
        import ray

        from autoprune._plugins import load_plugins
        from autoprune.measure import LatencyMemo
        from autoprune.tasks import Task, get_task
        from autoprune.trial import warm_up

        self.baseline, self.hub = baseline, hub
        self.latency_memo = LatencyMemo()  # per worker process: one machine's measurements
        self.error: str | None = None
        self.gpus = len(ray.get_gpu_ids())  # the GPUs Ray gave this worker, visible as cuda:0, ...
        try:
            load_plugins(plugins)  # the driver's plug-ins: their criteria, granularities, ...
            if isinstance(task, bytes):  # a task object, unpickled here so that a failure is reported
                task = ray.cloudpickle.loads(task)
            self.task = task if isinstance(task, Task) else get_task(task[0], seed=task[1], data_dir=task[2])
            warm_up(self.task, baseline)  # one-time costs are startup, not the first trial's
        except Exception as exc:  # reported by ready(): a task that cannot load is the user's to fix
            self.error = f"{type(exc).__name__}: {exc}"

    def ready(self) -> str | None:
        """None once the task is loaded, else why it could not be."""
        return self.error

    def run(self, job: TrialJob, attempt: int) -> TrialOutcome:
        import ray

        from autoprune.search._executors import execute_job

        if self.error:  # a replacement worker that could not load the task
            return TrialOutcome(number=job.number, attempts=attempt, error=f"the worker could not load the task: {self.error}")

        def report(step: int, metrics: dict) -> bool:
            if self.hub is None:
                return False
            return bool(ray.get(self.hub.report.remote(job.number, attempt, step, metrics)))

        outcome = execute_job(self._here(job), self.task, self.baseline, report, self.latency_memo)
        outcome.attempts = attempt
        return outcome


    def _here(self, job: TrialJob) -> TrialJob:
        """``job`` with its devices as this worker sees them (its GPUs are cuda:0, ...)."""
        import dataclasses

        from autoprune.devices import worker_device

        latency = dataclasses.replace(job.latency, device=worker_device(job.latency.device, self.gpus))
        return dataclasses.replace(job, device=worker_device(job.device, self.gpus), latency=latency)


@EXECUTORS.register("ray", replace=True)  # replace: a re-import registers the new class
class RayExecutor(Executor):
    """Runs up to ``workers`` trials at once on Ray (a local instance or a cluster).

    Each worker is a Ray actor holding ``cpus_per_trial`` CPUs (and ``gpus_per_trial``
    GPUs) for the whole search; it receives the baseline once and runs one trial at a time,
    with one more queued behind it so it never idles while the controller books a result.

    Args:
        workers: trials in flight at once.
        task: (task spec, seed, data dir), resolved once by each worker when it starts; or
            a task object, sent to the workers pickled (through the object store, once).
        address: cluster address; else ``RAY_ADDRESS``; else a local Ray instance sized
            to the machine.
        cpus_per_trial: Ray CPUs per trial; also the torch threads a trial trains with.
        gpus_per_trial: Ray GPUs per trial (fractions allowed).
        max_attempts: runs of a trial whose worker died before it is FAILED.
        decisions: whether workers wait for the controller's continue / stop after each
            report (False when no trial pruner can stop a trial).
    """

    def __init__(self, workers: int, task: tuple[str, int, str | None] | Any, address: str | None = None,
                 cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0, max_attempts: int = 3,
                 decisions: bool = True) -> None:
        self.workers = workers
        self._task_spec = task
        self.slots = 2 * workers
        self.address = address or os.environ.get("RAY_ADDRESS")
        self.cpus, self.gpus, self.max_attempts = cpus_per_trial, gpus_per_trial, max_attempts
        self.decisions = decisions
        self._futures: dict[Any, tuple[TrialJob, int, int]] = {}  # future -> (job, attempt, actor index)
        self._actors: list[Any] = []
        self._started_ray = False
        self._hub: Any = None
        self._reports: Any = None  # the hub call that returns the next reports
        self._baseline_ref: Any = None
        self._task_ref: Any = task if isinstance(task, tuple) else None

    @classmethod
    def create(cls, context: ExecutorContext) -> "RayExecutor":
        return cls(workers=context.workers, address=context.address, cpus_per_trial=context.cpus_per_trial,
                   gpus_per_trial=context.gpus_per_trial, max_attempts=context.max_attempts,
                   decisions=context.decisions, task=context.task)

    def start(self, baseline: Any, task: Any) -> None:
        """Starts the workers and returns when each has loaded the task."""
        ray = require("ray")
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
            if self.address:
                kwargs["address"] = self.address  # a cluster: the user's choice of interfaces
            else:
                kwargs.update(_local_only(ray))
            ray.init(**kwargs)  # token authentication (Ray's default for local clusters) stays on
            self._started_ray = not self.address
        if self.decisions:  # max_concurrency: every running trial may be waiting in ``report`` at once
            self._hub = ray.remote(num_cpus=0, max_concurrency=1000)(_Hub).remote()
        self._baseline_ref = ray.put(baseline)  # once, through the object store
        if not isinstance(self._task_spec, tuple):  # a task object: pickled once, like the baseline
            self._task_ref = ray.put(ray.cloudpickle.dumps(self._task_spec))
        self._actors = [self._new_actor() for _ in range(self.workers)]
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Returns when every worker has loaded the task (startup is not trial time); a worker
        process that dies while starting is replaced, up to ``max_attempts`` times."""
        import ray

        for attempt in range(1, self.max_attempts + 1):
            dead = []
            for index, actor in enumerate(self._actors):
                try:
                    error = ray.get(actor.ready.remote())
                except ray.exceptions.RayActorError:
                    dead.append(index)
                    continue
                if error:
                    hint = "" if isinstance(self._task_spec, tuple) else (
                        "; allowed: a task object whose classes and functions the workers can import, or a "
                        "'path/file.py:factory' task that builds it in each worker")
                    raise TaskError(f"a Ray worker could not load task {self._task_label!r}: {error}{hint}")
            if not dead:
                return
            if attempt == self.max_attempts:
                raise TaskError(f"Ray workers died while starting {attempt} times (task {self._task_label!r})")
            for index in dead:
                self._replace_actor(index)

    @property
    def _task_label(self) -> str:
        spec = self._task_spec
        return spec[0] if isinstance(spec, tuple) else getattr(spec, "name", type(spec).__name__)

    def _new_actor(self) -> Any:
        import ray

        cls = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_restarts=0)(_Worker)
        from autoprune._plugins import loaded_plugins

        return cls.remote(self._baseline_ref, self._hub, self._task_ref, loaded_plugins())

    def submit(self, job: TrialJob, attempt: int = 1) -> None:
        load = [0] * len(self._actors)
        for _, _, index in self._futures.values():
            load[index] += 1
        index = min(range(len(self._actors)), key=load.__getitem__)
        self._futures[self._actors[index].run.remote(job, attempt)] = (job, attempt, index)

    def pending(self) -> int:
        return len(self._futures)

    def status(self) -> dict[str, int]:
        # an actor runs its calls one at a time, in order: one running per busy worker
        running = len({index for _, _, index in self._futures.values()})
        return {"queued": len(self._futures) - running, "running": running}

    def wait(self, decide: Decide) -> list[TrialOutcome]:
        import ray

        while True:
            waiting = list(self._futures)
            if self._hub is not None:
                if self._reports is None:
                    self._reports = self._hub.next_reports.remote()
                waiting.append(self._reports)
            ready, _ = ray.wait(waiting, num_returns=1, timeout=_WAIT_S)
            if self._reports is not None and self._reports in ready:
                self._relay(ray.get(self._reports), decide)
                self._reports = None
            if any(future in self._futures for future in ready):
                ended, _ = ray.wait(list(self._futures), num_returns=len(self._futures), timeout=0)
                outcomes = self._collect(ended)
                if outcomes:
                    return outcomes

    def _relay(self, reports: list[tuple[int, int, int, dict]], decide: Decide) -> None:
        """Passes reports to ``decide`` and its answers back to the waiting workers."""
        current = {(job.number, attempt) for job, attempt, _ in self._futures.values()}
        for number, attempt, step, metrics in reports:
            # a report from a run whose worker has since died is answered, not decided
            stop = (number, attempt) not in current or bool(decide(number, step, metrics))
            self._hub.decide.remote(number, attempt, step, stop)

    def _collect(self, ended: list[Any]) -> list[TrialOutcome]:
        import ray

        outcomes = []
        for future in ended:
            if future not in self._futures:  # a call on a worker that died and was replaced
                continue
            job, attempt, index = self._futures[future]
            try:
                outcome = ray.get(future)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.NodeDiedError, ray.exceptions.OwnerDiedError) as exc:
                outcomes += self._worker_died(index, exc)
                continue
            except ray.exceptions.RayTaskError as exc:
                outcome = TrialOutcome(number=job.number, attempts=attempt, details=str(exc)[-4000:],
                                       error=f"{type(exc.cause).__name__}: {exc.cause}")
            del self._futures[future]
            outcomes.append(outcome)
        return outcomes

    def _worker_died(self, index: int, exc: Exception) -> list[TrialOutcome]:
        """Replaces a dead worker. An actor runs its calls in order, so the oldest call on it
        was the running trial: it runs again, up to ``max_attempts`` runs, then is FAILED;
        the calls queued behind it move to other workers with their attempts unchanged."""
        calls = [(future, job, attempt) for future, (job, attempt, i) in self._futures.items() if i == index]
        for future, _, _ in calls:
            del self._futures[future]
        self._replace_actor(index)
        failed = []
        for position, (_, job, attempt) in enumerate(calls):
            if position > 0:
                self.submit(job, attempt)
            elif attempt < self.max_attempts:
                self.submit(job, attempt + 1)
            else:
                failed.append(TrialOutcome(number=job.number, attempts=attempt,
                                           error=f"worker died {attempt} times: {type(exc).__name__}",
                                           details=str(exc)[-4000:]))
        return failed

    def _replace_actor(self, index: int) -> None:
        import ray

        ray.kill(self._actors[index], no_restart=True)
        self._actors[index] = self._new_actor()

    def close(self) -> None:
        if not self._actors and self._hub is None and not self._started_ray:
            return  # never started: nothing to stop (and Ray may not even be installed)
        import ray

        for actor in self._actors:
            ray.kill(actor, no_restart=True)
        self._actors = []
        if self._hub is not None:
            ray.kill(self._hub)
            self._hub, self._reports = None, None
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False


def _local_only(ray: Any) -> dict[str, Any]:
    """ray.init arguments that keep a local Ray instance on the loopback interface.

    Ray turns a node address of 127.0.0.1 into the machine's routable address unless its
    "single machine" switch is set (the default on macOS and Windows, read from
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` when Ray is imported); it is set here for this
    process and, through the environment, for the processes Ray starts.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if constants is not None and hasattr(constants, "ENABLE_RAY_CLUSTER"):
        constants.ENABLE_RAY_CLUSTER = False
    return {"_node_ip_address": "127.0.0.1"}
