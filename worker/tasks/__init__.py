"""The only place where Celery meets the Scenario client and the database."""

from worker.tasks.callbacks import deliver_callback
from worker.tasks.downloads import download_batch
from worker.tasks.generation import poll_job
from worker.tasks.hints import look_after_hint
from worker.tasks.recovery import recover
from worker.tasks.submit import submit_generation
from worker.tasks.sweep import sweep

__all__ = ["deliver_callback", "download_batch", "look_after_hint", "poll_job", "recover", "submit_generation", "sweep"]
