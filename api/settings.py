"""Runtime settings, read once from ``FORECAST_*`` environment variables (pydantic-settings).

Only entry points (the CLI callback and the app factory) read them; they pass plain values down,
so ``datasets``, ``forecast`` and ``exports`` never see this class.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from resources.engine import Engine, EngineName, engine_for


class S3Settings(BaseModel):
    """Options for ``s3://`` URLs (workspace, dataset sources, export destinations).

    Unset values fall back to the standard AWS environment variables and config files.
    """

    endpoint_url: str | None = Field(None, description="e.g. http://127.0.0.1:9000 for MinIO")
    key: SecretStr | None = None
    secret: SecretStr | None = None
    region: str | None = None
    anon: bool = False


def _default_home() -> str:
    return str(Path.home() / ".forecast")


class Settings(BaseSettings):
    """Every setting of the service. Environment: ``FORECAST_<NAME>``, nested with ``__``
    (``FORECAST_S3__ENDPOINT_URL``)."""

    model_config = SettingsConfigDict(
        env_prefix="FORECAST_", env_nested_delimiter="__", env_ignore_empty=True, extra="ignore"
    )

    home: str = Field(default_factory=_default_home, description="workspace root: a folder or fsspec URL")
    registry: str | None = Field(
        None, description="SQLite registry file; default <home>/registry.db for a local home"
    )
    s3: S3Settings = S3Settings()
    log_format: Literal["text", "json"] = "text"
    log_level: str = "WARNING"
    inference_precision: Literal["auto", "float32", "float16"] = Field(
        "auto", description="LSTM decoding precision for sampling; auto = float16 where the CPU has native "
        "half-precision kernels (AVX512-FP16/AMX-FP16), else float32. float16 also runs pretrained models "
        "(chronos) in bfloat16 where the CPU has it (auto keeps them in float32)",
    )
    chronos_model: str | None = Field(
        None, description="a pretrained model's folder or URL (config.json and model.safetensors of a Chronos-Bolt or "
        "Chronos-2 model): algorithm chronos uses it unless model_path is given, and auto adds chronos to its default "
        "members (docs/pretrained.md)")
    # HTTP service
    api_key: SecretStr | None = Field(None, description="when set, every request needs 'Authorization: Bearer <key>'")
    max_body_bytes: int = Field(10 * 2**20, ge=1024, description="largest accepted request body")
    predictor_cache_size: int = Field(4, ge=1, le=256, description="loaded predictors kept for invocations")
    allowed_export_prefixes: list[str] = Field(
        default_factory=list, description="destinations HTTP-started exports may write under"
    )
    import_partition_mb: int = Field(
        16, ge=1, description="long-format imports group up to this much source in memory; larger sources are "
        "partitioned on local disk by series key first, so memory stays bounded"
    )
    allowed_import_prefixes: list[str] = Field(
        default_factory=list, description="folders or s3:// prefixes HTTP-started dataset imports and predictors' "
        "pretrained models (model_path) may read from (the CLI reads anywhere its user can)"
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Host header names the server answers (comma-separated or a JSON list; "
        "'*.example.com' for subdomains); empty: any name, but only loopback names when there is no API key and "
        "the server binds loopback",
    )
    # Bounds on one invocation request (on-demand inference)
    max_invocation_values: int = Field(
        2_000_000, ge=1, description="largest instances x num_samples x prediction_length one invocation may draw",
    )
    max_response_bytes: int = Field(
        20 * 2**20, ge=1024, description="largest invocation response body (estimated before the work starts)",
    )
    # The managed services' wire protocols (boto3 clients with endpoint_url; api/aws/)
    aws_region: str = Field("us-east-1", pattern=r"^[a-z0-9-]{1,30}$", description="the region in ARNs and SigV4")
    aws_account_id: str = Field("000000000000", pattern=r"^\d{12}$", description="the account id in ARNs")
    aws_access_key_id: str | None = Field(
        None, description="with aws_secret_access_key: boto3 requests must carry a valid SigV4 signature by this key")
    aws_secret_access_key: SecretStr | None = None
    auto_predictor_hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="hyperparameters (JSON) of predictors made by CreateAutoPredictor, "
        "which has no field for them: e.g. {\"epochs\": 40} for a smaller training budget")
    # Scale-out (resources/engine.py, resources/ray_engine.py; pip install '.[ray]')
    engine: EngineName = Field(
        "local", description="where forecasts, exports and statistical fits run: in-process (local), or "
        "partitioned over Ray workers (ray)")
    ray_address: str | None = Field(
        None, description="the Ray cluster: auto, ray://host:10001, or unset for a local Ray on this machine")
    partition_items: int | None = Field(
        None, ge=1, le=1_000_000, description="items per partition of fits, backtests and forecasts (the unit of work "
        "on a worker, and of its memory); default 2048. Results do not depend on it")
    import_strict: bool = Field(False, description="the CLI's default for --strict: long-format imports refuse to "
                                "change values (fills, combined rows, stray negative values) unless --no-strict is "
                                "given (over HTTP: long_format.strict)")
    # Training jobs
    max_training_memory_mb: int | None = Field(
        None, ge=64, description="hyperparameters whose estimated training memory exceeds this are refused "
        "before training; default 80% of this machine's RAM",
    )

    @field_validator("api_key")
    @classmethod
    def _key_not_blank(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            key = v.get_secret_value().strip()
            if not key:
                raise ValueError("FORECAST_API_KEY is blank; set a real key or unset the variable")
            return SecretStr(key)
        return v

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, v: object) -> object:
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [h.strip() for h in text.split(",") if h.strip()]
        return v

    def secrets(self) -> list[str]:
        """Values that must never appear in a log line: the API key, the S3 key id and secret, the
        AWS-protocol secret."""
        values = [self.api_key, self.s3.key, self.s3.secret, self.aws_secret_access_key]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]

    def storage_options(self, url: str) -> dict[str, Any]:
        """fsspec options for ``url``: the S3 settings for ``s3://`` URLs, nothing otherwise."""
        if not url.startswith(("s3://", "s3a://")):
            return {}
        s3 = self.s3
        options: dict[str, Any] = {}
        if s3.endpoint_url:
            options["endpoint_url"] = s3.endpoint_url
        if s3.key:
            options["key"] = s3.key.get_secret_value()
        if s3.secret:
            options["secret"] = s3.secret.get_secret_value()
        if s3.region:
            options["client_kwargs"] = {"region_name": s3.region}
        if s3.anon:
            options["anon"] = True
        return options

    def job_engine(self) -> Engine:
        """The engine jobs run on (:data:`engine`, at :data:`ray_address`)."""
        return engine_for(self.engine, self.ray_address, self.partition_items)

    def registry_path(self) -> Path:
        """The SQLite file. A remote home keeps its registry in a local file named after it."""
        if self.registry:
            return Path(self.registry).expanduser()
        if "://" not in self.home or self.home.startswith("file://"):
            return Path(self.home.removeprefix("file://")).expanduser() / "registry.db"
        digest = hashlib.sha256(self.home.encode()).hexdigest()[:12]
        return Path.home() / ".forecast" / f"registry-{digest}.db"
