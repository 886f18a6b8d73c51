"""Run many targets at once, each in its own thread with its own deadline and wiring.

A slow target never delays another's result; Ctrl-C or SIGTERM ends every run in flight
(their deadlines are cancelled) and the targets that had not finished get an "interrupted"
report, so what did finish is still written.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from acrdiag.deadline import Deadline
from acrdiag.engine import Interrupted, bad_input_report
from acrdiag.env import Env
from acrdiag.errors import InputError
from acrdiag.health.definitions import Target
from acrdiag.health.thresholds import apply_thresholds
from acrdiag.model import Report
from acrdiag.options import build_options
from acrdiag.runner import run_prepared
from acrdiag.steps import PULL_STEPS, Step

# After a stop, how long the runs in flight get to end (their waits are cut at once).
STOP_GRACE_S = 2.0


@dataclass
class Outcome:
    target: Target
    report: Report


class _Slot:
    """One target's run: its deadline (to cancel it from outside) and, once done, its report."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.deadline = Deadline(float(target.settings.get("deadline", 60.0)))
        self.report: Report | None = None


def run_targets(
    targets: Sequence[Target],
    env: Env,
    concurrency: int = 4,
    steps: Sequence[Step] = PULL_STEPS,
    on_done: Callable[[Outcome], None] | None = None,
) -> tuple[list[Outcome], KeyboardInterrupt | None]:
    """Every target's outcome in the definitions' order, and the stop that ended the check
    early, if one did. ``on_done`` sees each outcome as it finishes (in finishing order)."""
    slots = [_Slot(target) for target in targets]
    todo: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
    for slot in slots:
        todo.put(slot)
    finished: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
    workers = [
        threading.Thread(target=_work, args=(todo, finished, env, steps), daemon=True)
        for _ in range(max(1, min(concurrency, len(slots))))
    ]
    for worker in workers:
        worker.start()
    stop = _collect(slots, finished, on_done)
    return [Outcome(s.target, s.report or _stopped(s, steps, stop)) for s in slots], stop


def _collect(
    slots: list[_Slot],
    finished: queue.SimpleQueue[_Slot],
    on_done: Callable[[Outcome], None] | None,
) -> KeyboardInterrupt | None:
    """Wait for every slot; on Ctrl-C/SIGTERM cancel all and give them a moment to end."""
    waiting = len(slots)
    try:
        while waiting:
            slot = finished.get()
            waiting -= 1
            if on_done is not None and slot.report is not None:
                on_done(Outcome(slot.target, slot.report))
    except KeyboardInterrupt as stop:
        for slot in slots:
            slot.deadline.cancel()
        end = time.monotonic() + STOP_GRACE_S
        while waiting and time.monotonic() < end:
            try:
                finished.get(timeout=max(0.0, end - time.monotonic()))
                waiting -= 1
            except queue.Empty:
                break
        return stop
    return None


def _work(
    todo: queue.SimpleQueue[_Slot],
    finished: queue.SimpleQueue[_Slot],
    env: Env,
    steps: Sequence[Step],
) -> None:
    while True:
        try:
            slot = todo.get_nowait()
        except queue.Empty:
            return
        try:
            if not slot.deadline.expired():  # cancelled before it started: leave it
                slot.report = run_target(slot.target, env, steps, slot.deadline)
        finally:
            finished.put(slot)


def run_target(
    target: Target, env: Env, steps: Sequence[Step] = PULL_STEPS, deadline: Deadline | None = None
) -> Report:
    """One target's report, never an exception: bad settings are a bad_input report."""
    args = target.run_args()
    try:
        prepared = build_options(args, env, target.password)
    except InputError as exc:
        return bad_input_report(target.reference, f"{target.source}: {exc}", steps)
    try:
        report = run_prepared(prepared, steps, deadline)
    except Interrupted as stop:
        report = stop.report
    return apply_thresholds(report, target.thresholds)


def _stopped(slot: _Slot, steps: Sequence[Step], stop: KeyboardInterrupt | None) -> Report:
    """The report of a target the stop ended before it finished."""
    return bad_input_report(
        slot.target.reference, "the check was stopped before this target finished", steps, stop
    )
