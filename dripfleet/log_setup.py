"""The one logging setup of every dripfleet process: JSON lines or text, with context and masking.

LOG_FORMAT=json writes one JSON object a line (for a log collector); text is for people. Unset, a
process writes text when its stderr is a terminal and JSON otherwise. Every line names the process
("web", "device-host", "webhooks", ...), the host owner where there is one (a device worker's
lease owner) and, where the code knows them, the device id and the message id: passed as
`extra={"device_id": ...}` or bound for a block with `log_context(message_id=...)`.

At INFO and above, phone numbers (10 to 15 digits) keep only their last four digits, and the
passwords of URLs, bearer tokens, API tokens (dfk_...), webhook secrets (whsec_...) and secret-like
query parameters are replaced by ***. DEBUG lines are left whole, for a developer's terminal.
"""

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

FORMATS = ("json", "text")
# the context fields a line may carry, in the order the text format shows them
CONTEXT_FIELDS = ("owner", "device_id", "message_id")

_process = "dripfleet"
_owner: str | None = None
_context: ContextVar[dict[str, Any] | None] = ContextVar("log_context", default=None)

# 10-15 digits with an optional +, not part of a longer word or number (ids, pids, ports and
# counts are shorter; a provider message id mixes letters in and is left alone)
_PHONE = re.compile(r"(?<![\w.+-])(\+?)(\d{6,11})(\d{4})(?![\w.-])")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(@)", re.IGNORECASE)
_BEARER = re.compile(r"(\bbearer\s+)[^\s,;\"']+", re.IGNORECASE)
_TOKENS = re.compile(r"\b(dfk|whsec)_[A-Za-z0-9_+/=-]+")
_SECRET_PARAMS = re.compile(
    r"([?&;\s](?:token|access_token|api_key|apikey|key|secret|password|signature|sig)=)[^&\s\"']+",
    re.IGNORECASE,
)


def mask(text: str) -> str:
    """text with phone numbers cut to their last four digits and secrets replaced by ***."""
    text = _URL_PASSWORD.sub(r"\1***\2", text)
    text = _BEARER.sub(r"\1***", text)
    text = _TOKENS.sub(r"\1_***", text)
    text = _SECRET_PARAMS.sub(r"\1***", text)
    return _PHONE.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)


def bind_context(**fields: Any) -> Token:
    """Every line this thread (task) logs from now carries these fields; reset_context(token)
    ends it."""
    return _context.set({**(_context.get() or {}), **fields})


def reset_context(token: Token) -> None:
    """Undo the bind_context that returned token."""
    _context.reset(token)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Every line logged in this block (this thread / task) carries these fields."""
    token = bind_context(**fields)
    try:
        yield
    finally:
        reset_context(token)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    found: dict[str, Any] = {"process": _process}
    owner = getattr(record, "owner", None) or _owner
    if owner:
        found["owner"] = owner
    bound = _context.get() or {}
    for name in ("device_id", "message_id"):
        value = getattr(record, name, None)
        if value is None:
            value = bound.get(name)
        if value is not None:
            found[name] = value
    return found


def _message(record: logging.LogRecord) -> str:
    text = record.getMessage()
    return mask(text) if record.levelno >= logging.INFO else text


def _exception(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    # a traceback quotes the failed statement's parameters (phones) and URLs
    text = formatter.formatException(record.exc_info) if record.exc_info else record.exc_text
    if text and record.levelno >= logging.INFO:
        return mask(text)
    return text or None


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, process, owner, device_id, message_id, msg."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            **_fields(record),
            "msg": _message(record),
        }
        trace = _exception(self, record)
        if trace:
            line["exc"] = trace
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time LEVEL process[owner] logger: message [device=.. message=..]` for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        where = fields["process"] + (f"[{fields['owner']}]" if "owner" in fields else "")
        extra = " ".join(f"{k.split('_')[0]}={fields[k]}" for k in CONTEXT_FIELDS[1:]
                         if k in fields)
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        line = (f"{stamp} {record.levelname} {where} {record.name}: {_message(record)}"
                + (f" [{extra}]" if extra else ""))
        trace = _exception(self, record)
        if trace:
            line += "\n" + trace
        return line


def resolve_format(value: str | None, stream: Any = None) -> str:
    """json or text: the setting when given, else text on a terminal and JSON otherwise."""
    if value:
        return value
    stream = sys.stderr if stream is None else stream
    try:
        return "text" if stream.isatty() else "json"
    except (AttributeError, ValueError):
        return "json"


def make_formatter(fmt: str | None = None) -> logging.Formatter:
    """The formatter for LOG_FORMAT (None: by whether stderr is a terminal)."""
    return TextFormatter() if resolve_format(fmt) == "text" else JsonFormatter()


def configure_logging(
    process: str, level: str = "INFO", fmt: str | None = None, owner: str | None = None
) -> None:
    """Send this process's logs to stderr in the chosen format; replaces any earlier setup."""
    global _process, _owner
    _process, _owner = process, owner
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level)
    # libraries that say every request at INFO: their errors still come through
    for noisy in ("pgserver", "httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def gunicorn_logconfig(level: str, fmt: str | None) -> dict[str, Any]:
    """gunicorn's logconfig_dict: its own messages and the app's through the same formatter."""
    global _process
    _process = "web"
    handler = {"class": "logging.StreamHandler", "formatter": "dripfleet",
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"dripfleet": {"()": make_formatter, "fmt": fmt}},
        "handlers": {"console": handler},
        "root": {"level": level, "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
        },
    }
