"""Logging for entry points only: quiet by default, JSON lines when asked."""

from __future__ import annotations

import json
import logging
import re
import sys
import warnings
from datetime import UTC, datetime

NOISY = ("lightning", "lightning.pytorch", "pytorch_lightning", "lightning_fabric", "gluonts", "botocore",
         "aiobotocore", "s3fs", "fsspec", "urllib3", "matplotlib", "uvicorn.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key.startswith("ctx_"):
                data[key[4:]] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exc"] = record.exc_text
        return json.dumps(data, default=str)


#: AWS access key ids (``AKIA...``, ``ASIA...``) and SigV4 credential scopes, whoever logs them.
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b|(?<=Credential=)[^/\s,]+")


class RedactSecrets(logging.Filter):
    """Replaces configured secrets and anything shaped like an AWS access key id in every record
    (message, arguments and traceback) before any handler formats it, at every level; botocore's
    DEBUG logs print the signing credential scope, which holds the key id."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return _AWS_KEY_ID.sub("***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is still logged, redacted
            message = str(record.msg)
        record.msg, record.args = self.redact(message), None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_logging(level: str | int = "WARNING", *, fmt: str = "text", secrets: list[str] | None = None) -> None:
    """Configure the root handler once; third-party loggers stay at WARNING unless DEBUG. Secrets
    (and AWS key ids) are redacted from every record the handler writes."""
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        numeric = logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets or []))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in NOISY:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING) if numeric > logging.DEBUG else numeric)
    if numeric > logging.DEBUG:
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
