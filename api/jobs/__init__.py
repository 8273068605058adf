"""The job runner: jobs started over HTTP run in their own worker process
(``python -m api.jobs.worker KIND NAME``), watched by :class:`api.jobs.runner.JobRunner`."""
