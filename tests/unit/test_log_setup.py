"""The one logging setup: JSON lines with the process and the context, text on a terminal,
phone numbers and secrets masked from INFO up."""

import io
import json
import logging
import subprocess
import sys
import threading

import pytest

from dripfleet import log_setup


@pytest.fixture
def captured(monkeypatch):
    """Configure logging for a "device-host" worker into a buffer; yields the buffer."""
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    # restored by monkeypatch after the test
    monkeypatch.setattr(log_setup, "_process", log_setup._process)
    monkeypatch.setattr(log_setup, "_owner", log_setup._owner)
    log_setup.configure_logging("device-host", "DEBUG", "json", owner="vm:1:abc/w0")
    yield buffer
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_json_line_carries_process_owner_and_the_device_and_message(captured):
    log = logging.getLogger("device_host.worker")
    log.info("claimed", extra={"device_id": 7})
    with log_setup.log_context(device_id=8, message_id=1234):
        log.warning("send failed")
    log.info("after the block")
    first, second, third = lines(captured)
    assert first["process"] == "device-host" and first["owner"] == "vm:1:abc/w0"
    assert first["level"] == "INFO" and first["logger"] == "device_host.worker"
    assert first["device_id"] == 7 and "message_id" not in first
    assert first["msg"] == "claimed" and first["ts"].endswith("+00:00")
    assert (second["device_id"], second["message_id"]) == (8, 1234)
    assert "device_id" not in third and "message_id" not in third


def test_a_traceback_is_masked_too(captured):
    try:
        raise ValueError("duplicate key for phone +60123456789")
    except ValueError:
        logging.getLogger("webapp.errors").exception("failed")
    [line] = lines(captured)
    assert "ValueError" in line["exc"] and "+60123456789" not in line["exc"]


def test_the_context_is_per_thread(captured):
    log = logging.getLogger("device_host.worker")
    with log_setup.log_context(message_id=1):
        other = threading.Thread(target=lambda: log.info("elsewhere"))
        other.start()
        other.join()
    assert "message_id" not in lines(captured)[0]


def test_phone_numbers_are_masked_at_info_and_whole_at_debug(captured):
    log = logging.getLogger("device_host.worker")
    log.info("%s: %s opted out (%s)", "vm:1:abc/w0", "+60123456789", {"cancelled": 2})
    log.info("jid 60123456789@s.whatsapp.net, message 123456, pid 4242")
    log.debug("to %s", "+60123456789")
    info, jid, debug = lines(captured)
    assert "+60123456789" not in info["msg"] and info["msg"].endswith("opted out "
                                                                      "({'cancelled': 2})")
    assert "+*******6789" in info["msg"]
    assert "60123456789" not in jid["msg"] and "*******6789@s.whatsapp.net" in jid["msg"]
    assert "message 123456, pid 4242" in jid["msg"]  # ids are no phone numbers
    assert "+60123456789" in debug["msg"]


@pytest.mark.parametrize(("raw", "hidden", "kept"), [
    ("fetching https://user:hunter2@media.example.com/a.jpg failed", "hunter2",
     "https://user:***@media.example.com/a.jpg"),
    ("Authorization: Bearer dfk_abcDEF123", "abcDEF123", "Bearer ***"),
    ("token dfk_XpnvyIbF0R9VzSZ8jtEKKwPUx5WZ", "XpnvyIbF0R9", "dfk_***"),
    ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8", "whsec_***"),
    ("GET https://h.example/x?a=1&token=abc123&b=2", "abc123", "token=***&b=2"),
    ("postgresql://app:pa55word@db:5432/app", "pa55word", "postgresql://app:***@db:5432/app"),
])
def test_secrets_are_masked(raw, hidden, kept):
    masked = log_setup.mask(raw)
    assert hidden not in masked and kept in masked


def test_text_on_a_terminal_json_otherwise():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert log_setup.resolve_format(None, Terminal()) == "text"
    assert log_setup.resolve_format(None, io.StringIO()) == "json"
    assert log_setup.resolve_format("text", io.StringIO()) == "text"
    assert log_setup.resolve_format("json", Terminal()) == "json"


def test_a_text_line_names_process_owner_and_context(captured):
    captured.truncate(0)
    captured.seek(0)
    logging.getLogger().handlers[0].setFormatter(log_setup.TextFormatter())
    with log_setup.log_context(device_id=3, message_id=44):
        logging.getLogger("device_host.worker").info("sent to +60123456789")
    line = captured.getvalue().strip()
    assert " INFO device-host[vm:1:abc/w0] device_host.worker: sent to +*******6789" in line
    assert line.endswith("[device=3 message=44]")


def test_a_bad_log_format_is_one_line_naming_the_variable(tmp_path):
    bad = subprocess.run(
        [sys.executable, "-m", "dripfleet.cli", "migrate"], capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "LOG_FORMAT": "yaml", "DATA_DIR": str(tmp_path)},
        timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "dripfleet: configuration error: LOG_FORMAT: 'yaml' is not one of json, text")
