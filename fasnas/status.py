"""The text of ``fasnas study status``: counts, selection rule, Pareto front, running trials, ETA.

Owns what a user sees when asking how a study is doing. Data is computed apart from drawing:
:func:`status_snapshot` reads a study into a :class:`StatusSnapshot` of plain values, and
:func:`format_status` renders it, so both can be tested without a storage or a terminal.

Reading the numbers:

- *fresh trials used* count towards the budget (retries and trials the budget refused do not,
  see :mod:`fasnas.search.budget`);
- a failed trial is *retried* (a retry is queued or done), *awaiting resume* (a lost trial that
  ``fasnas study resume`` will retry) or *final* (the architecture failed: NaN loss, ...);
- the front is the study's own: non-dominated on its values, whose first is the mean
  *selection* value (:mod:`fasnas.selection`: the source-validation EER, the inner
  leave-one-source-out HTER, or, for ``target-test`` and studies made before the rule existed,
  the target HTER itself); under an honest rule each front row also shows its target mean HTER
  from the record, which the search never saw;
- the ETA is the work left (fresh trials still in the budget and queued retries, at the mean
  duration of finished trials, plus the rest of the running ones) divided by the workers
  running now; the study's deadline caps it.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from fasnas import record, selection
from fasnas.config import StudyConfig
from fasnas.report.pareto import front_trials
from fasnas.search.budget import Budget
from fasnas.search.recovery import (
    fail_reason_of,
    is_retryable,
    retry_links,
    stale_reason,
    this_host,
)
from fasnas.search.session import load_study
from fasnas.storage import describe_url

FRONT_ROWS = 12  # Pareto-front rows shown (the cheapest first)


@dataclass(frozen=True)
class RunningTrial:
    """A RUNNING trial as status shows it."""

    number: int
    family: str
    host: str
    pid: int | None
    index: int | None
    age_s: float | None
    heartbeat_age_s: float | None
    protocols_done: tuple[str, ...]
    retry_of: int | None
    stale: str | None = None  # why it looks lost (its worker is gone, or silent too long)


@dataclass(frozen=True)
class FrontTrial:
    """A trial on the Pareto front."""

    number: int
    family: str
    values: tuple[float, ...]
    target_hter: float | None = None  # mean over protocols of the recorded target HTER


@dataclass
class StatusSnapshot:
    """Everything the status text shows, as plain values."""

    name: str
    storage: str
    sampler: str
    metric_names: list[str]
    created_at: float | None
    now: float
    n_trials: int | None
    deadline: float | None
    used: int
    states: dict[str, int]
    retried: list[tuple[int, int]] = field(default_factory=list)  # (failed, retry)
    awaiting: list[tuple[int, str]] = field(default_factory=list)  # (failed, reason)
    final: dict[str, int] = field(default_factory=dict)  # reason kind -> count
    budget_spent: int = 0
    rejected: int = 0
    running: list[RunningTrial] = field(default_factory=list)
    front: list[FrontTrial] = field(default_factory=list)
    mean_trial_s: float | None = None
    eta_s: float | None = None
    eta_note: str = ""
    select_on: str = selection.TARGET_TEST
    objective_hter: str = "test-eer"

    @property
    def rule(self) -> str:
        """The selection rule in one line (:func:`fasnas.selection.describe`)."""
        return selection.describe(self.select_on, self.objective_hter)


def _duration(trial) -> float | None:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def _front(study, trials) -> list[FrontTrial]:
    front = []
    for trial in front_trials(trials, len(study.directions)):
        trial_record = record.TrialRecord.of(trial)
        hters = [float(v) for v in trial_record.objective_hters().values() if v is not None]
        target = sum(hters) / len(hters) if hters else None
        front.append(
            FrontTrial(trial.number, trial_record.family_label, tuple(trial.values), target)
        )
    return sorted(front, key=lambda t: (t.values[1:], t.values[0]))


def status_snapshot(study, *, storage: str, now: float | None = None) -> StatusSnapshot:
    """Read ``study`` into a :class:`StatusSnapshot` (``storage`` describes where it lives)."""
    from optuna.trial import TrialState

    now = time.time() if now is None else now
    trials = study.get_trials(deepcopy=False)
    study_record = record.StudyRecord.of(study)
    budget = Budget.of(study)
    links = retry_links(study, trials)
    snapshot = StatusSnapshot(
        name=study.study_name,
        storage=storage,
        sampler=str(study_record.search.get("sampler", type(study.sampler).__name__)),
        metric_names=list(study.metric_names or []),
        created_at=study_record.created_at,
        now=now,
        n_trials=budget.n_trials,
        deadline=budget.deadline,
        used=budget.used(trials),
        states=dict(Counter(t.state.name.lower() for t in trials)),
        select_on=selection.select_on_of(study_record.select_on),
        objective_hter=study_record.objective_hter or "test-eer",
    )
    protocols = list((study_record.config or {}).get("protocols") or [])
    grace = float(study_record.search.get("grace_period", 600))
    host = this_host()
    for trial in trials:
        reason = fail_reason_of(trial)
        trial_record = record.TrialRecord.of(trial)
        if trial_record.rejected:
            snapshot.rejected += 1
        if trial.state == TrialState.FAIL:
            if reason is not None and reason.startswith("budget-spent"):
                snapshot.budget_spent += 1
            elif trial.number in links:
                snapshot.retried.append((trial.number, links[trial.number]))
            elif is_retryable(trial):
                snapshot.awaiting.append((trial.number, reason or "stale (heartbeat)"))
            else:
                kind = (reason or "unknown").split(":", 1)[0]
                snapshot.final[kind] = snapshot.final.get(kind, 0) + 1
        elif trial.state == TrialState.RUNNING:
            worker = trial_record.worker
            beat = trial_record.heartbeat
            start = trial.datetime_start.timestamp() if trial.datetime_start else None
            done = tuple(trial_record.finished_protocols(protocols))  # what a retry reuses
            snapshot.running.append(
                RunningTrial(
                    number=trial.number,
                    family=trial_record.family_label,
                    host=str(worker.get("host", "?")),
                    pid=worker.get("pid"),
                    index=worker.get("index"),
                    age_s=None if start is None else now - start,
                    heartbeat_age_s=None if beat is None else now - float(beat),
                    protocols_done=done,
                    retry_of=trial_record.retry_of,
                    stale=stale_reason(trial, grace_period=grace, host=host, now=now),
                )
            )
    snapshot.front = _front(study, trials)
    durations = [
        d
        for t in trials
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        and not record.TrialRecord.of(t).rejected
        and (d := _duration(t)) is not None
    ]
    snapshot.mean_trial_s = sum(durations) / len(durations) if durations else None
    _estimate(snapshot, waiting=snapshot.states.get("waiting", 0))
    return snapshot


def _estimate(snapshot: StatusSnapshot, waiting: int) -> None:
    left = max(snapshot.n_trials - snapshot.used, 0) if snapshot.n_trials is not None else None
    lost = [r for r in snapshot.running if r.stale is not None]
    queued = waiting + len(snapshot.awaiting) + len(lost)
    alive = [r for r in snapshot.running if r.stale is None]
    if left is None:
        snapshot.eta_note = "no trial limit: the study runs until its timeout or until stopped"
        if snapshot.deadline is not None:
            snapshot.eta_s = max(snapshot.deadline - snapshot.now, 0.0)
        return
    if left == 0 and queued == 0 and not alive:
        snapshot.eta_s = 0.0
        snapshot.eta_note = "done: the budget is spent and no trial is running or queued"
        return
    mean = snapshot.mean_trial_s
    if mean is None:
        snapshot.eta_note = "unknown until a trial finishes"
        return
    workers = len({(r.host, r.pid) for r in alive})
    rest = sum(max(mean - (r.age_s or 0.0), 0.0) for r in alive)
    work = (left + queued) * mean + rest
    snapshot.eta_s = work / max(workers, 1)
    snapshot.eta_note = f"{left + queued} trial(s) to start at ~{_span(mean)} each, " + (
        f"{workers} worker(s) running" if workers else "assuming one worker (none running)"
    )
    if snapshot.awaiting or lost:
        snapshot.eta_note += "; lost trials count only after `fasnas study resume`"
    if snapshot.deadline is not None and snapshot.now + snapshot.eta_s > snapshot.deadline:
        snapshot.eta_s = max(snapshot.deadline - snapshot.now, 0.0)
        snapshot.eta_note += "; the timeout ends it first"


def _span(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "?"
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")


def _value(name: str, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if "HTER" in name or "EER" in name:
        return f"{100 * value:.2f}%"
    if "latency" in name.lower():
        return f"{value:.2f}"
    return f"{value:.4f}"


def format_status(s: StatusSnapshot) -> str:
    """The status text (plain, one idea per line, no colour)."""
    states = s.states
    budget = "no trial limit" if s.n_trials is None else f"{s.n_trials} trials"
    deadline = "no timeout" if s.deadline is None else f"deadline {_when(s.deadline)}"
    lines = [
        f"study {s.name!r} in {s.storage}",
        f"sampler {s.sampler}, created {_when(s.created_at)}, budget {budget}, {deadline}",
        f"selection rule: {s.rule}",
        "",
        (
            f"trials: {s.used}"
            + (f" of {s.n_trials}" if s.n_trials is not None else "")
            + " fresh trials used | "
            + " | ".join(
                f"{states.get(key, 0)} {key}"
                for key in ("complete", "pruned", "running", "waiting", "fail")
            ).replace(" fail", " failed")
        ),
    ]
    if s.rejected:
        lines.append(f"  {s.rejected} complete trial(s) were rejected untrained: over the budget")
    if s.retried:
        pairs = ", ".join(f"#{a} -> #{b}" for a, b in s.retried)
        lines.append(f"  failed and retried: {pairs}")
    if s.awaiting:
        pairs = ", ".join(f"#{n} ({reason})" for n, reason in s.awaiting)
        lines.append(f"  failed, awaiting `fasnas study resume` to retry them: {pairs}")
    if s.final:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(s.final.items()))
        lines.append(f"  failed for good (the architecture failed): {kinds}")
    if s.budget_spent:
        lines.append(f"  {s.budget_spent} trial(s) not run: the budget was already spent")
    lines.append("")
    if s.running:
        lines.append(f"running ({len(s.running)}):")
        for r in s.running:
            worker = f"worker {r.index}" if r.index is not None else "worker ?"
            beat = (
                "no heartbeat yet"
                if r.heartbeat_age_s is None
                else (f"heartbeat {_span(r.heartbeat_age_s)} ago")
            )
            done = ", ".join(r.protocols_done) or "none"
            retry = f", retry of #{r.retry_of}" if r.retry_of is not None else ""
            lines.append(
                f"  #{r.number:<4d} {r.family:<12} {worker} on {r.host} pid {r.pid}, "
                f"running {_span(r.age_s)}, {beat}, protocols done: {done}{retry}"
            )
            if r.stale is not None:
                lines.append(f"        LOST? {r.stale}; `fasnas study resume` retries it")
    else:
        lines.append("running: none")
    lines.append("")
    names = s.metric_names or [f"objective {k}" for k in range(2)]
    if s.front:
        lines += _front_lines(s, names)
        if len(s.front) > FRONT_ROWS:
            lines.append(f"  ... and {len(s.front) - FRONT_ROWS} more (`fasnas report`)")
    else:
        lines.append("Pareto front so far: empty (no complete trial yet)")
    lines.append("")
    eta = "" if s.eta_s is None else f"about {_span(s.eta_s)}"
    lines.append("ETA: " + "; ".join(part for part in (eta, s.eta_note) if part))
    return "\n".join(lines)


def _front_lines(s: StatusSnapshot, names: list[str]) -> list[str]:
    """The front's heading, header and rows: the study's values under their names (the first
    names the rule), then, under an honest rule, the target mean HTER from the record."""
    headers = [_short_name(names[0])] + list(names[1:])
    honest = s.select_on in selection.HONEST
    if honest:
        headers.append(f"target mean HTER ({s.objective_hter})")
    widths = [max(22, len(h)) for h in headers]
    chosen = "chosen on the target, an oracle" if not honest else "chosen on the sources"
    lines = [
        f"Pareto front so far ({len(s.front)} trial(s), cheapest first; {chosen}: "
        f"{' vs '.join(headers[: len(names)])}):",
        "  "
        + f"{'#':>5}  {'family':<12}"
        + "".join(f"  {h:>{w}}" for h, w in zip(headers, widths, strict=True)),
    ]
    for t in s.front[:FRONT_ROWS]:
        values = list(t.values[: len(names)]) + ([t.target_hter] if honest else [])
        cells = "".join(
            f"  {_value(h, v):>{w}}" for h, v, w in zip(headers, values, widths, strict=False)
        )
        lines.append(f"  {t.number:>5}  {t.family:<12}{cells}")
    return lines


def _short_name(name: str) -> str:
    """A metric name without its ``(select_on: ...)`` and ``[oracle ...]`` parts."""
    for mark in (" (select_on:", " ["):
        name = name.split(mark, 1)[0]
    return name


def study_counts_line(study) -> str:
    """One line of trial counts by state (printed when a command ends)."""
    counts = Counter(t.state.name.lower() for t in study.get_trials(deepcopy=False))
    parts = ", ".join(f"{counts[key]} {key}" for key in sorted(counts)) or "no trials"
    return f"study {study.study_name!r}: {parts}"


def study_status(
    config: StudyConfig, *, storage: str | None = None, now: float | None = None
) -> str:
    """``fasnas study status``: open the study read-only and return the status text.

    Raises:
        StorageError: The storage is unreachable or the study does not exist.
    """
    study = load_study(config, storage)
    url = config.storage_url(storage)
    text = format_status(status_snapshot(study, storage=describe_url(url), now=now))
    return "\n".join([text, *confirmation_status(study)])


def confirmation_status(study) -> list[str]:
    """Progress of ``fasnas study confirm`` (the ``<name>-confirm`` study beside ``study``) and
    the confirmed candidates; no lines when there is no confirm study."""
    from fasnas.report.confirmed import confirmation_lines, confirmed_of
    from fasnas.search.confirm import companion_of, progress

    confirm = companion_of(study)
    if confirm is None:
        return []
    found = progress(confirm)
    others = ", ".join(f"{found[k]} {k}" for k in ("running", "waiting", "failed") if found[k])
    done = f"{found['complete']} of {found['entries']} runs complete"
    line = (
        f"confirmation ({confirm.study_name}): {done}"
        + (f" ({others})" if others else "")
        + f"; {len(found['candidates'])} candidates"
    )
    hter = record.StudyRecord.of(study).objective_hter or "test-eer"
    return ["", line, *confirmation_lines(confirmed_of(study, confirm), hter)]
