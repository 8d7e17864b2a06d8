"""Long work (sweeps, dataset checks, lab trainings) as jobs: a row in the runs database's ``jobs`` table
(``core.jobs.table``) run by the server's ``JobRunner`` (``core.jobs.runner``) outside any browser session, so a
job outlives the tab that started it, any tab can follow it, and the command line can list and stop it."""

from core.jobs.runner import JobResult, JobRunner, runner
from core.jobs.table import ACTIVE, FINISHED, STATUSES, Job, JobsError, JobTable

__all__ = ["ACTIVE", "FINISHED", "STATUSES", "Job", "JobResult", "JobRunner", "JobTable",
           "JobsError", "runner"]
