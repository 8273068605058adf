"""The HTTP service (FastAPI): the ``/v1`` API, the lookup page, Prometheus metrics, and the AWS
protocols' routes (:mod:`api.aws`) on the same port. ``create_app`` builds it."""
