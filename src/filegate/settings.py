"""The one settings class: every FILEGATE_* variable, read once at start-up."""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from dotenv import dotenv_values
from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from filegate.callbacks import parse_allowed_hosts
from filegate.units import parse_duration, parse_rate, parse_size

SizeBytes = Annotated[int, BeforeValidator(parse_size)]
DurationSeconds = Annotated[int, BeforeValidator(parse_duration)]
BudgetBytes = Annotated[
    int | None, BeforeValidator(lambda value: None if value in ("", "auto", None) else parse_size(value))
]
OptionalSizeBytes = Annotated[
    int | None, BeforeValidator(lambda value: None if value in ("", None) else parse_size(value))
]

OptionalPath = Annotated[Path | None, BeforeValidator(lambda value: None if value in ("", None) else value)]
# NoDecode: '60/minute' is text to parse, not JSON as pydantic-settings reads tuples.
RatePerSeconds = Annotated[
    tuple[int, int],
    NoDecode,
    BeforeValidator(lambda value: parse_rate(value) if isinstance(value, str) else value),
]


def _parse_origins(value: object) -> object:
    if not isinstance(value, str):
        return value
    origins = tuple(origin.strip().rstrip("/") for origin in value.split(",") if origin.strip())
    for origin in origins:
        scheme, _, rest = origin.partition("://")
        if origin != "*" and (scheme not in ("http", "https") or not rest or "/" in rest):
            raise ValueError(f"{origin!r} is not an origin like https://files.example.com or '*'")
    return origins


OriginList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_parse_origins)]


def _parse_sentinels(value: object) -> object:
    if not isinstance(value, str):
        return value
    sentinels = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{item!r} is not host:port, like 10.0.0.5:26379")
        sentinels.append((host.strip("[]"), int(port)))
    return tuple(sentinels)


SentinelList = Annotated[tuple[tuple[str, int], ...], NoDecode, BeforeValidator(_parse_sentinels)]
HostList = Annotated[
    tuple[str, ...],
    NoDecode,
    BeforeValidator(lambda value: parse_allowed_hosts(value) if isinstance(value, str) else value),
]

_DEV_SECRET = "dev-only-signing-secret-change-me"
_DEV_WEBHOOK_SECRET = "dev-only-webhook-secret-change-me"
MIN_SECRET_LENGTH = 32


class StorageKind(StrEnum):
    LOCAL = "local"
    S3 = "s3"


class Settings(BaseSettings):
    """filegate's configuration; see .env.example for every variable with an example."""

    model_config = SettingsConfigDict(
        env_prefix="FILEGATE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "production"] = Field(
        "development", description="'production' refuses the development signing secret."
    )
    storage: StorageKind = Field(StorageKind.LOCAL, description="Where sources and archives live.")
    local_root: Path = Field(Path("./data/files"), description="Sources for the local store.")
    output_dir: Path = Field(Path("./data/archives"), description="Prepared archives for the local store.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Tickets and event streams.")
    redis_max_connections: int = Field(
        200,
        ge=2,
        description="Redis connections one API process opens at most; past it a request waits "
        "for a free one (up to 10 s) instead of failing.",
    )
    redis_sentinels: SentinelList = Field(
        (),
        description="Redis Sentinels (host:port, comma separated) asked for the primary; then "
        "FILEGATE_REDIS_URL gives only the database and credentials. Empty: no Sentinel.",
    )
    redis_sentinel_master: str = Field(
        "", description="The primary's name in the sentinels' configuration (sentinel monitor NAME)."
    )
    broker_url: str = Field(
        "", description="Celery broker (redis:// or amqp://); empty means FILEGATE_REDIS_URL."
    )
    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port the API listens on.")
    public_url: str = Field(
        "", description="Base URL clients reach the API at; empty means http://HOST:PORT."
    )
    s3_endpoint: str = Field("http://127.0.0.1:9000", description="S3 endpoint used inside.")
    s3_public_endpoint: str = Field(
        "", description="S3 endpoint that links are signed for; empty means FILEGATE_S3_ENDPOINT."
    )
    s3_access_key: str = Field("", description="S3 access key.")
    s3_secret_key: str = Field("", description="S3 secret key.")
    s3_region: str = Field("us-east-1", description="S3 region used for signing.")
    s3_source_bucket: str = Field("files", description="Bucket holding the sources.")
    s3_output_bucket: str = Field("archives", description="Bucket receiving archives.")
    s3_part_size: SizeBytes = Field(
        16 * 1024**2, description="Multipart upload part size (bounds memory per build)."
    )
    s3_upload_concurrency: int = Field(
        4,
        ge=1,
        le=32,
        description="Parts of an archive uploaded at once while the build goes on; a build holds "
        "this many parts plus one in memory.",
    )
    s3_fetch_ahead: int = Field(
        8,
        ge=0,
        le=64,
        description="Small sources (under 1 MiB) a build reads at once ahead of the one it writes; "
        "0 reads one at a time.",
    )
    s3_server_copy: bool = Field(
        True,
        description="Large stored files whose CRC-32 is known are copied into archives by the S3 "
        "store itself (UploadPartCopy), when it takes it (asked once per process); off: every byte "
        "streams through the worker.",
    )
    s3_server_copy_min_size: SizeBytes = Field(
        64 * 1024**2,
        ge=10 * 1024**2,
        description="Smallest file copied by the store rather than streamed (at least 10 MiB: "
        "every part but the last of an upload is at least 5 MiB).",
    )
    crc_cache_ttl: DurationSeconds = Field(
        30 * 86400,
        ge=1,
        description="How long the CRC-32 a build computed for a pinned source is remembered in "
        "Redis, so later builds store it with its CRC-32 known (and may copy it on S3).",
    )
    min_split_size: SizeBytes = Field(10 * 1000**2, description="Smallest split size a request may ask for.")
    default_split_size: OptionalSizeBytes = Field(
        None, description="Split size for requests that name none; empty means one ZIP."
    )
    default_expiry: DurationSeconds = Field(86400, description="Expiry when a request names none.")
    max_expiry: DurationSeconds = Field(7 * 86400, description="Longest expiry a request may ask.")
    expired_grace: DurationSeconds = Field(
        86400, description="How long an expired ticket still answers 410 before it is forgotten."
    )
    max_paths: int = Field(1000, ge=1, description="Most paths in one request.")
    max_request_body: SizeBytes = Field(
        1024**2, description="Largest request body; larger ones are refused (413) before being read."
    )
    max_files: int = Field(100_000, ge=1, description="Most files in one archive.")
    max_total_size: SizeBytes = Field(100 * 1000**3, description="Largest total source size of one request.")
    signing_secret: str = Field(
        _DEV_SECRET, description="HMAC key for local download links; set it in production."
    )
    max_concurrent_builds: int = Field(
        2, ge=1, description="Most builds running at once, across all workers and machines."
    )
    space_budget: BudgetBytes = Field(
        None,
        description="Bytes for stored archives plus running builds; 'auto': the output folder's "
        "free space minus FILEGATE_SPACE_RESERVE (unlimited on S3).",
    )
    space_reserve: SizeBytes = Field(1000**3, description="Free space 'auto' leaves untouched.")
    max_wait: DurationSeconds = Field(
        600, description="After this long passed over for lack of space, nothing overtakes a build."
    )
    build_lease: DurationSeconds = Field(
        30,
        description="A running build renews its lease every third of this; a build whose lease "
        "lapsed (its worker died) is queued again at the next sweep.",
    )
    sweep_interval: DurationSeconds = Field(
        60, description="How often expired archives are looked for (Celery beat)."
    )
    sse_keepalive: DurationSeconds = Field(15, description="Seconds between SSE keep-alives.")
    build_timeout: DurationSeconds = Field(
        12 * 3600,
        description="Longest build; the broker redelivers unacknowledged work only after this.",
    )
    progress_interval_ms: int = Field(250, ge=10, description="Least time between progress events.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Least level logged.")
    log_format: Literal["json", "text"] = Field(
        "json", description="'json': one object a line; 'text' for people ('filegate dev' uses it)."
    )
    auth: Literal["on", "off"] = Field(
        "on", description="'off' lets anyone do anything, for experiments only (warned at start)."
    )
    admin_token: str = Field(
        "", description="Bearer token of the administrator (apps, users); empty: CLI only."
    )
    metrics_token: str = Field(
        "",
        description="Bearer token Prometheus scrapes GET /metrics with; empty: only clients on "
        "loopback may scrape.",
    )
    session_lifetime: DurationSeconds = Field(12 * 3600, description="How long a login session lasts.")
    login_free_failures: int = Field(
        3, ge=1, description="Failed logins per user or address before each next try is delayed."
    )
    login_max_delay: DurationSeconds = Field(
        300, description="Longest delay imposed after repeated failed logins (it doubles up to this)."
    )
    rate_downloads: RatePerSeconds = Field(
        (60, 60), description="POST /download per principal ('60/minute', '10/30s')."
    )
    rate_logins: RatePerSeconds = Field((20, 60), description="POST /auth/login per client address.")
    cors_origins: OriginList = Field(
        (),
        description="Origins (scheme://host[:port], comma separated, or '*') whose pages may call the "
        "API from a browser; empty: no CORS headers at all. Credentials are never allowed with '*'.",
    )
    licence_file: OptionalPath = Field(
        None, description="The licence file; empty: community limits (see docs/licence.md)."
    )
    licence_public_key: str = Field(
        "", description="Ed25519 public key (base64) that licences are verified with."
    )
    licence_check_interval: DurationSeconds = Field(
        300, description="How often the licence file is read and verified again."
    )
    webhook_secret: str = Field(
        _DEV_WEBHOOK_SECRET,
        description="Key that webhook deliveries are signed with (Standard Webhooks; 'whsec_<base64>' "
        f"or any text); in production at least {MIN_SECRET_LENGTH} characters.",
    )
    webhook_allowed_hosts: HostList = Field(
        (),
        description="Hosts (names or addresses, comma separated) callback URLs may reach over plain "
        "http and at private or loopback addresses; any other host needs https and a public address.",
    )
    webhook_retry_for: DurationSeconds = Field(
        86400, description="How long a failing webhook delivery is tried again before it is given up."
    )
    webhook_retry_delay: DurationSeconds = Field(
        5, ge=1, description="Wait before the second attempt of a delivery; it doubles after each failure."
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.environment == "production" and self.signing_secret == _DEV_SECRET:
            raise ValueError("FILEGATE_SIGNING_SECRET must be set when FILEGATE_ENVIRONMENT=production")
        if self.default_split_size is not None and self.default_split_size < self.min_split_size:
            raise ValueError("FILEGATE_DEFAULT_SPLIT_SIZE is smaller than FILEGATE_MIN_SPLIT_SIZE")
        if self.sweep_interval <= 0:
            raise ValueError("FILEGATE_SWEEP_INTERVAL must be longer than zero")
        if bool(self.redis_sentinels) != bool(self.redis_sentinel_master):
            raise ValueError("FILEGATE_REDIS_SENTINELS and FILEGATE_REDIS_SENTINEL_MASTER go together")
        if self.environment == "production" and self.auth == "on" and 0 < len(self.admin_token) < 32:
            raise ValueError("FILEGATE_ADMIN_TOKEN must be at least 32 characters in production")
        if self.environment == "production" and 0 < len(self.metrics_token) < 32:
            raise ValueError("FILEGATE_METRICS_TOKEN must be at least 32 characters in production")
        if self.environment == "production" and (
            self.webhook_secret == _DEV_WEBHOOK_SECRET or len(self.webhook_secret) < MIN_SECRET_LENGTH
        ):
            raise ValueError(
                f"FILEGATE_WEBHOOK_SECRET must be set, at least {MIN_SECRET_LENGTH} characters, "
                "when FILEGATE_ENVIRONMENT=production"
            )
        if self.default_expiry > self.max_expiry:
            raise ValueError("FILEGATE_DEFAULT_EXPIRY is longer than FILEGATE_MAX_EXPIRY")
        return self

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def effective_s3_public_endpoint(self) -> str:
        return self.s3_public_endpoint or self.s3_endpoint


class SettingsError(Exception):
    """A FILEGATE_* variable holds a value that cannot be used."""


PREFIX = "FILEGATE_"
ENV_FILE = Path(".env")
OTHER_VARIABLES = frozenset(
    {
        "FILEGATE_NEW_PASSWORD",  # filegate users create: the new user's password
        "FILEGATE_IMAGE",  # compose.yaml: the image its services run
        "FILEGATE_SERVER",  # filegate get, status, result, cancel: the API to talk to
        "FILEGATE_KEY",  # and the API key they send
    }
)
"""FILEGATE_* variables that are not settings of the service but are read elsewhere."""

_logger = logging.getLogger(__name__)
_already_named: set[str] = set()


def unknown_variables(environ: Mapping[str, str], env_file: Path = ENV_FILE) -> list[str]:
    """The FILEGATE_* names in ``environ`` and ``env_file`` that nothing reads: typos, mostly,
    which would otherwise leave a default in place without a word."""
    names = set(environ)
    if env_file.is_file():
        names |= set(dotenv_values(env_file))
    known = {f"{PREFIX}{field.upper()}" for field in Settings.model_fields} | OTHER_VARIABLES
    # pydantic-settings reads variable names in any case, so they are compared in capitals.
    return sorted(name for name in names if name.upper().startswith(PREFIX) and name.upper() not in known)


def warn_unknown_variables(environ: Mapping[str, str], env_file: Path = ENV_FILE) -> None:
    """Log each unknown FILEGATE_* variable once per process, with the setting it may mean."""
    known = [f"{PREFIX}{field.upper()}" for field in Settings.model_fields]
    for name in unknown_variables(environ, env_file):
        if name in _already_named:
            continue
        _already_named.add(name)
        close = difflib.get_close_matches(name.upper(), known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        _logger.warning(
            "%s is not a filegate setting and is ignored%s; see .env.example",
            name,
            hint,
            extra={"variable": name},
        )


def load_settings() -> Settings:
    """Read the environment and .env once; a bad value raises naming its variable, an unknown
    FILEGATE_* variable is named in a warning."""
    warn_unknown_variables(os.environ)
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            variable = f"FILEGATE_{where.upper()}" if where else "settings"
            problems.append(f"{variable}: {error['msg']}")
        raise SettingsError("; ".join(problems)) from None
