"""How a batch's progress reads on a terminal: pure text, no I/O."""

from __future__ import annotations

from worker.batches.runs import BatchProgress

# The states worth a count on the progress line, in the order a job passes them.
SHOWN = ("created", "queued", "warming-up", "in-progress", "success", "failure", "canceled", "dead")


def bar(done: int, total: int, width: int = 28) -> str:
    filled = 0 if total <= 0 else min(width, round(width * done / total))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def progress_line(progress: BatchProgress) -> str:
    """`[#####.....] 12/30  success 10 · dead 2 · in-progress 18  0.8/min ... ETA 00:23`."""
    counts = " · ".join(f"{state} {progress.counts[state]}" for state in SHOWN if progress.counts.get(state))
    return (
        f"{bar(progress.finished, progress.items)} {progress.finished}/{progress.items}  {counts or 'nothing yet'}  "
        f"{progress.rate_per_s * 60:.1f}/min  elapsed {duration(progress.elapsed_s)}  ETA {duration(progress.eta_s)}"
        f"  {units(progress.cu_spent, progress.cu_estimate)}{budget(progress)}"
    )


def budget(progress: BatchProgress) -> str:
    """`  budget 100 CU: 100 committed, 40 paused (waiting for ...)`, when the batch has one or waits."""
    text = ""
    if progress.batch.budget_cu is not None:
        text = f"  budget {progress.batch.budget_cu:g} CU: {progress.batch.cu_committed:g} committed"
    if progress.paused:
        text += f"{',' if text else ' '} {progress.paused} paused ({progress.paused_reason})"
    return text


def units(spent: float, estimate: float | None) -> str:
    """`CU 12 spent of ~40`: creative units so far, and the whole batch's estimate when known."""
    return f"CU {spent:g} spent" + (f" of ~{estimate:.0f}" if estimate is not None else "")
