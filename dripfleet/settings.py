"""One settings object, read from the environment the same way by every entry point.

Bad configuration raises `ConfigError` naming the variable; entry points turn it into one line on
stderr and exit status 2 (see `exit_on_config_error`).
"""

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers

TRANSPORTS = ("simulated", "neonize")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# WARMUP_PLAN "20,20,50,120,300,600": vendors' published ramps (README "Anti-ban"); each day's
# hourly cap a third of its daily one (warmup_hourly)
DEFAULT_WARMUP_PLAN = ((20, 7), (20, 7), (50, 17), (120, 40), (300, 100), (600, 200))


class ConfigError(ValueError):
    """A configuration variable is missing or wrong; `variable` names it."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


@dataclass(frozen=True)
class Settings:
    """Every configuration variable, typed; defaults as in DESIGN.md."""

    database_url: str | None = None
    data_dir: Path = Path(".data")
    min_delay_seconds: float = 5.0
    max_delay_seconds: float = 15.0
    worker_pool_size: int = 100
    queue_buffer_size: int = 1000
    health_check_seconds: float = 30.0
    transport: str = "simulated"
    dagster_home: Path | None = None
    secret_key: str | None = None
    default_region: str = "MY"
    max_attempts: int = 3
    devices_per_worker: int = 50
    device_start_failure_limit: int = 20
    device_failure_pause_after: int = 10
    content_failure_pause_after: int = 5
    opt_out_keywords: tuple[str, ...] = ("STOP", "UNSUBSCRIBE", "BERHENTI", "CANCEL", "QUIT", "END")
    message_max_age_hours: float = 72.0
    max_upload_mb: float = 50.0
    max_media_mb: float = 16.0
    web_timeout_seconds: int = 120
    # web sign-in: the session cookie's Secure flag (None: on unless local, webapp.auth), how many
    # reverse proxies' X-Forwarded-For / -Proto to believe, and the login throttle
    session_cookie_secure: bool | None = None
    trusted_proxies: int = 0
    login_max_failures: int = 10
    login_throttle_seconds: int = 900
    log_level: str = "INFO"
    dagster_ui_url: str = "http://127.0.0.1:3000"
    device_host_port: int = 8001
    device_host_max_workers: int = 16
    retry_backoff_seconds: float = 30.0
    sim_latency_seconds: float = 0.2
    sim_pair_seconds: float = 3.0
    sim_failure_rate: float = 0.0
    # the simulated phones' answers: delivery receipt delay, share of messages read / replied to
    sim_deliver_seconds: float = 2.0
    sim_read_rate: float = 0.6
    sim_reply_rate: float = 0.0
    # real transport (neonize): "typing…" before each send, scaled to the text's length
    typing_seconds_per_char: float = 0.03
    typing_max_seconds: float = 5.0
    check_on_whatsapp: bool = True
    whatsapp_proxy: str | None = None
    # media (and later webhook) URLs may reach private / loopback addresses: tests, on-premise
    allow_private_urls: bool = False
    # the webhooks dispatcher: sends in flight (overall, and per endpoint), the claim's lease,
    # the first retry delay (the whole schedule scales with it) and the safety poll
    webhook_concurrency: int = 64
    webhook_per_endpoint: int = 8
    webhook_lease_seconds: float = 60.0
    webhook_retry_first_seconds: float = 5.0
    webhook_poll_seconds: float = 10.0
    # device hosts sharing the fleet: devices one host starts or stops per minute to rebalance
    # (a host joining or leaving must not reconnect every session at once); device_host/leases.py
    device_moves_per_minute: int = 60
    # observability (dripfleet/log_setup.py, dripfleet/metrics.py): LOG_FORMAT json|text (unset:
    # text on a terminal, JSON otherwise); /metrics wants `Authorization: Bearer METRICS_TOKEN`,
    # or, without a token, answers only to this machine (loopback, not through a proxy); the
    # level of a Dagster run's step events (DEBUG shows every step); the dispatcher's port
    log_format: str | None = None
    metrics_token: str | None = None
    dagster_log_level: str = "INFO"
    webhooks_port: int = 8002
    # ban-risk guard (issue 15): the warm-up plan of devices added through the API or the page
    # ((daily, hourly) caps for day 1, 2, … of the number's age; empty: off), the risk score's
    # thresholds (0-100), the optional 30-day budget of messages to leads who never answered, and
    # how often a worker scores its devices
    warmup_plan: tuple[tuple[int, int], ...] = DEFAULT_WARMUP_PLAN
    risk_slow_at: int = 40
    risk_pause_at: int = 70
    unanswered_budget: int | None = None
    risk_check_seconds: float = 60.0

    @property
    def max_upload_bytes(self) -> int:
        """The CSV upload limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_media_bytes(self) -> int:
        """The media upload / download limit in bytes."""
        return int(self.max_media_mb * 1024 * 1024)


def _number(kind: Callable[[str], Any], minimum: float | None = None) -> Callable[[str, str], Any]:
    def parse(name: str, raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            word = "a whole number" if kind is int else "a number"
            raise ConfigError(name, f"{raw!r} is not {word}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(name, f"{raw!r} is not a finite number")
        if minimum is not None and value < minimum:
            raise ConfigError(name, f"must be at least {minimum:g}, got {raw}")
        return value

    return parse


def _choice(choices: tuple[str, ...], upper: bool = False) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in choices:
            raise ConfigError(name, f"{raw!r} is not one of {', '.join(choices)}")
        return value

    return parse


def _database_url(name: str, raw: str) -> str:
    value = raw.strip()
    if not value.startswith(("postgresql://", "postgres://", "postgresql+")):
        raise ConfigError(name, "must be a postgresql:// URL")
    return value


def _rate(name: str, raw: str) -> float:
    value = _number(float, 0)(name, raw)
    if value > 1:
        raise ConfigError(name, f"is a share between 0 and 1, got {raw}")
    return value


def _region(name: str, raw: str) -> str:
    value = raw.strip().upper()
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(name, f"{raw!r} is not a known two-letter region code (e.g. MY, US, GB)")
    return value


def _keywords(name: str, raw: str) -> tuple[str, ...]:
    words = tuple(w.strip().upper() for w in raw.split(",") if w.strip())
    if not words:
        raise ConfigError(name, "needs at least one keyword (comma-separated)")
    return words


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"{raw!r} is not a yes/no value (true, false, 1, 0)")


def _proxy_url(name: str, raw: str) -> str:
    value = raw.strip()
    if not value.startswith(("socks5://", "http://", "https://")):
        raise ConfigError(name, "must be a socks5://, http:// or https:// proxy URL")
    return value


def _path(name: str, raw: str) -> Path:
    if not raw.strip():
        raise ConfigError(name, "is empty")
    return Path(raw.strip())


def _text(name: str, raw: str) -> str:
    if not raw.strip():
        raise ConfigError(name, "is set but empty")
    return raw


def _http_url(name: str, raw: str) -> str:
    value = raw.strip()
    if not value.startswith(("http://", "https://")):
        raise ConfigError(name, "must be an http:// or https:// URL")
    return value.rstrip("/")


def warmup_hourly(daily: int) -> int:
    """A warm-up day's hourly cap when the plan gives none: a third of the day's, so that a day's
    messages spread over three hours at least."""
    return max(1, -(-daily // 3))


def _warmup_plan(name: str, raw: str) -> tuple[tuple[int, int], ...]:
    value = raw.strip().lower()
    if value in ("off", "none", "0", "false", "no"):
        return ()
    plan = []
    for entry in value.split(","):
        daily, _, hourly = entry.strip().partition("/")
        try:
            caps = (int(daily), int(hourly) if hourly else warmup_hourly(int(daily)))
        except ValueError:
            raise ConfigError(name, f"{entry.strip()!r} is not DAILY or DAILY/HOURLY (whole "
                                    "numbers), e.g. 20,20,50/20,120; or off") from None
        if min(caps) < 1:
            raise ConfigError(name, f"caps must be at least 1, got {entry.strip()!r}")
        plan.append(caps)
    return tuple(plan)


def _score(name: str, raw: str) -> int:
    value = _number(int, 1)(name, raw)
    if value > 101:
        raise ConfigError(name, f"is a score from 1 to 100 (101: never), got {raw}")
    return value


# variable name -> (Settings field, parser)
_VARIABLES: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "DATABASE_URL": ("database_url", _database_url),
    "DATA_DIR": ("data_dir", _path),
    "MIN_DELAY_SECONDS": ("min_delay_seconds", _number(float, 0)),
    "MAX_DELAY_SECONDS": ("max_delay_seconds", _number(float, 0)),
    "WORKER_POOL_SIZE": ("worker_pool_size", _number(int, 1)),
    "QUEUE_BUFFER_SIZE": ("queue_buffer_size", _number(int, 1)),
    "HEALTH_CHECK_SECONDS": ("health_check_seconds", _number(float, 0.05)),
    "TRANSPORT": ("transport", _choice(TRANSPORTS)),
    "DAGSTER_HOME": ("dagster_home", _path),
    "SECRET_KEY": ("secret_key", _text),
    "DEFAULT_REGION": ("default_region", _region),
    "MAX_ATTEMPTS": ("max_attempts", _number(int, 1)),
    "DEVICES_PER_WORKER": ("devices_per_worker", _number(int, 1)),
    "DEVICE_START_FAILURE_LIMIT": ("device_start_failure_limit", _number(int, 1)),
    "DEVICE_FAILURE_PAUSE_AFTER": ("device_failure_pause_after", _number(int, 1)),
    "CONTENT_FAILURE_PAUSE_AFTER": ("content_failure_pause_after", _number(int, 1)),
    "OPT_OUT_KEYWORDS": ("opt_out_keywords", _keywords),
    "MESSAGE_MAX_AGE_HOURS": ("message_max_age_hours", _number(float, 0.001)),
    "MAX_UPLOAD_MB": ("max_upload_mb", _number(float, 0.001)),
    "MAX_MEDIA_MB": ("max_media_mb", _number(float, 0.001)),
    "WEB_TIMEOUT_SECONDS": ("web_timeout_seconds", _number(int, 1)),
    "SESSION_COOKIE_SECURE": ("session_cookie_secure", _flag),
    "TRUSTED_PROXIES": ("trusted_proxies", _number(int, 0)),
    "LOGIN_MAX_FAILURES": ("login_max_failures", _number(int, 1)),
    "LOGIN_THROTTLE_SECONDS": ("login_throttle_seconds", _number(int, 1)),
    "LOG_LEVEL": ("log_level", _choice(LOG_LEVELS, upper=True)),
    "DAGSTER_UI_URL": ("dagster_ui_url", _http_url),
    "DEVICE_HOST_PORT": ("device_host_port", _number(int, 0)),
    "DEVICE_HOST_MAX_WORKERS": ("device_host_max_workers", _number(int, 1)),
    "RETRY_BACKOFF_SECONDS": ("retry_backoff_seconds", _number(float, 0)),
    "SIM_LATENCY_SECONDS": ("sim_latency_seconds", _number(float, 0)),
    "SIM_PAIR_SECONDS": ("sim_pair_seconds", _number(float, 0)),
    "SIM_FAILURE_RATE": ("sim_failure_rate", _number(float, 0)),
    "SIM_DELIVER_SECONDS": ("sim_deliver_seconds", _number(float, 0)),
    "SIM_READ_RATE": ("sim_read_rate", _rate),
    "SIM_REPLY_RATE": ("sim_reply_rate", _rate),
    "TYPING_SECONDS_PER_CHAR": ("typing_seconds_per_char", _number(float, 0)),
    "TYPING_MAX_SECONDS": ("typing_max_seconds", _number(float, 0)),
    "CHECK_ON_WHATSAPP": ("check_on_whatsapp", _flag),
    "WHATSAPP_PROXY": ("whatsapp_proxy", _proxy_url),
    "ALLOW_PRIVATE_URLS": ("allow_private_urls", _flag),
    "WEBHOOK_CONCURRENCY": ("webhook_concurrency", _number(int, 1)),
    "WEBHOOK_PER_ENDPOINT": ("webhook_per_endpoint", _number(int, 1)),
    # longer than one send may take (15 s) plus recording it, or a slow send is sent twice
    "WEBHOOK_LEASE_SECONDS": ("webhook_lease_seconds", _number(float, 20)),
    "WEBHOOK_RETRY_FIRST_SECONDS": ("webhook_retry_first_seconds", _number(float, 0.01)),
    "WEBHOOK_POLL_SECONDS": ("webhook_poll_seconds", _number(float, 0.05)),
    "DEVICE_MOVES_PER_MINUTE": ("device_moves_per_minute", _number(int, 1)),
    "LOG_FORMAT": ("log_format", _choice(("json", "text"))),
    "METRICS_TOKEN": ("metrics_token", _text),
    "DAGSTER_LOG_LEVEL": ("dagster_log_level", _choice(LOG_LEVELS, upper=True)),
    "WEBHOOKS_PORT": ("webhooks_port", _number(int, 0)),
    "WARMUP_PLAN": ("warmup_plan", _warmup_plan),
    "RISK_SLOW_AT": ("risk_slow_at", _score),
    "RISK_PAUSE_AT": ("risk_pause_at", _score),
    "UNANSWERED_BUDGET": ("unanswered_budget", _number(int, 1)),
    "RISK_CHECK_SECONDS": ("risk_check_seconds", _number(float, 0.05)),
}

VARIABLES = tuple(_VARIABLES)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every variable; raise ConfigError naming the first bad one."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for variable, (attr, parse) in _VARIABLES.items():
        raw = env.get(variable)
        if raw is None or (raw == "" and variable != "SECRET_KEY"):
            continue
        values[attr] = parse(variable, raw)
    settings = Settings(**values)
    if settings.risk_slow_at > settings.risk_pause_at:
        raise ConfigError("RISK_SLOW_AT", f"{settings.risk_slow_at} is greater than "
                                          f"RISK_PAUSE_AT {settings.risk_pause_at}")
    if settings.min_delay_seconds > settings.max_delay_seconds:
        raise ConfigError(
            "MIN_DELAY_SECONDS",
            f"{settings.min_delay_seconds:g} is greater than "
            f"MAX_DELAY_SECONDS {settings.max_delay_seconds:g}",
        )
    return settings


@contextmanager
def exit_on_config_error(program: str = "dripfleet") -> Iterator[None]:
    """Turn a ConfigError into one line on stderr and exit status 2."""
    try:
        yield
    except ConfigError as error:
        print(f"{program}: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
