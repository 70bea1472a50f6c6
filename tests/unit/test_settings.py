from __future__ import annotations

from pathlib import Path

import pytest

from filegate.settings import Settings, SettingsError, StorageKind, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("FILEGATE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_human_sizes_and_durations_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILEGATE_MAX_TOTAL_SIZE", "5GB")
    monkeypatch.setenv("FILEGATE_S3_PART_SIZE", "32 MiB")
    monkeypatch.setenv("FILEGATE_DEFAULT_EXPIRY", "2 days")
    monkeypatch.setenv("FILEGATE_SSE_KEEPALIVE", "90s")
    settings = load_settings()
    assert settings.max_total_size == 5_000_000_000
    assert settings.s3_part_size == 32 * 1024**2
    assert settings.default_expiry == 172800
    assert settings.sse_keepalive == 90


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FILEGATE_MAX_TOTAL_SIZE", "lots"),
        ("FILEGATE_DEFAULT_EXPIRY", "a while"),
        ("FILEGATE_STORAGE", "floppy"),
        ("FILEGATE_PORT", "99999"),
        ("FILEGATE_S3_SERVER_COPY_MIN_SIZE", "8MiB"),
        ("FILEGATE_S3_SERVER_COPY", "perhaps"),
        ("FILEGATE_CRC_CACHE_TTL", "0"),
    ],
)
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILEGATE_ENVIRONMENT", "production")
    monkeypatch.setenv("FILEGATE_WEBHOOK_SECRET", "w" * 32)
    with pytest.raises(SettingsError, match="FILEGATE_SIGNING_SECRET"):
        load_settings()
    monkeypatch.setenv("FILEGATE_SIGNING_SECRET", "a-long-random-production-secret")
    assert load_settings().environment == "production"


def test_dotenv_is_read_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FILEGATE_STORAGE=s3\nFILEGATE_PORT=9000\n")
    monkeypatch.setenv("FILEGATE_PORT", "9100")
    settings = load_settings()
    assert settings.storage is StorageKind.S3
    assert settings.port == 9100


def test_public_addresses_default_to_the_internal_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILEGATE_S3_ENDPOINT", "http://minio:9000")
    settings = load_settings()
    assert settings.effective_public_url == "http://127.0.0.1:8000"
    assert settings.effective_s3_public_endpoint == "http://minio:9000"
    assert settings.effective_broker_url == settings.redis_url
    monkeypatch.setenv("FILEGATE_S3_PUBLIC_ENDPOINT", "https://files.example.com")
    monkeypatch.setenv("FILEGATE_PUBLIC_URL", "https://dl.example.com/")
    settings = load_settings()
    assert settings.effective_s3_public_endpoint == "https://files.example.com"
    assert settings.effective_public_url == "https://dl.example.com"


def test_env_example_lists_every_setting_and_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / ".env.example"
    text = example.read_text()
    for name in Settings.model_fields:
        assert f"FILEGATE_{name.upper()}=" in text, name
    (tmp_path / ".env").write_text(text)
    assert load_settings().storage is StorageKind.LOCAL


def test_production_refuses_a_short_metrics_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILEGATE_ENVIRONMENT", "production")
    monkeypatch.setenv("FILEGATE_SIGNING_SECRET", "a-long-random-production-secret")
    monkeypatch.setenv("FILEGATE_WEBHOOK_SECRET", "w" * 32)
    monkeypatch.setenv("FILEGATE_METRICS_TOKEN", "short")
    with pytest.raises(SettingsError, match="FILEGATE_METRICS_TOKEN"):
        load_settings()
    monkeypatch.setenv("FILEGATE_METRICS_TOKEN", "m" * 32)
    assert load_settings().metrics_token == "m" * 32


@pytest.mark.parametrize("secret", ["", "short-webhook-secret", "dev-only-webhook-secret-change-me"])
def test_production_refuses_a_missing_or_weak_webhook_secret(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("FILEGATE_ENVIRONMENT", "production")
    monkeypatch.setenv("FILEGATE_SIGNING_SECRET", "a-long-random-production-secret")
    if secret:
        monkeypatch.setenv("FILEGATE_WEBHOOK_SECRET", secret)
    with pytest.raises(SettingsError, match="FILEGATE_WEBHOOK_SECRET"):
        load_settings()
    monkeypatch.setenv("FILEGATE_WEBHOOK_SECRET", "w" * 32)
    assert load_settings().webhook_secret == "w" * 32


def test_webhook_hosts_are_read_as_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILEGATE_WEBHOOK_ALLOWED_HOSTS", " 127.0.0.1, Hooks.Internal ,[::1]")
    assert load_settings().webhook_allowed_hosts == ("127.0.0.1", "hooks.internal", "::1")
    monkeypatch.setenv("FILEGATE_WEBHOOK_ALLOWED_HOSTS", "http://hooks.internal/")
    with pytest.raises(SettingsError, match="FILEGATE_WEBHOOK_ALLOWED_HOSTS"):
        load_settings()


def test_sentinels_are_read_as_host_and_port_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILEGATE_REDIS_SENTINELS", "10.0.0.5:26379, sentinel-b:26380,[::1]:26381")
    monkeypatch.setenv("FILEGATE_REDIS_SENTINEL_MASTER", "filegate")
    settings = load_settings()
    assert settings.redis_sentinels == (("10.0.0.5", 26379), ("sentinel-b", 26380), ("::1", 26381))
    assert settings.redis_sentinel_master == "filegate"


@pytest.mark.parametrize(
    ("sentinels", "master", "named"),
    [
        ("10.0.0.5", "filegate", "FILEGATE_REDIS_SENTINELS"),
        ("10.0.0.5:99999", "filegate", "FILEGATE_REDIS_SENTINELS"),
        ("10.0.0.5:26379", "", "go together"),
        ("", "filegate", "go together"),
    ],
)
def test_a_bad_sentinel_setting_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, sentinels: str, master: str, named: str
) -> None:
    monkeypatch.setenv("FILEGATE_REDIS_SENTINELS", sentinels)
    monkeypatch.setenv("FILEGATE_REDIS_SENTINEL_MASTER", master)
    with pytest.raises(SettingsError, match=named):
        load_settings()
