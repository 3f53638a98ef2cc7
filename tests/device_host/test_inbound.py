"""The inbound part of the worker: opt-out keywords, and transport events recorded in the test
database by a worker whose loop does not run."""

from datetime import UTC, datetime

import pytest

from device_host.inbound import is_opt_out
from device_host.transports.base import Connected, Disconnected, Paired, QrCode
from tests.device_host.idle_worker import hold, idle_worker

KEYWORDS = ("STOP", "UNSUBSCRIBE", "BERHENTI")


@pytest.mark.parametrize(("text", "opts_out"), [
    ("STOP", True),
    ("stop", True),
    ("Stop please!", True),
    ("berhenti terima kasih", True),
    ("  unsubscribe.", True),
    ("please stop", False),  # the keyword must come first
    ("stop sending me these", False),  # more than three words is a sentence, not an opt-out
    ("stopping by later", False),
    ("", False),
    ("🙂", False),
])
def test_an_opt_out_is_a_keyword_first_in_three_words_or_fewer(text, opts_out):
    assert is_opt_out(text, KEYWORDS) is opts_out


def test_a_dropped_connection_shows_offline_until_it_connects_again(
    fleet, fast_settings, database_url
):
    device_id = fleet.device(fleet.user())
    with idle_worker(fast_settings, database_url) as worker:
        state = hold(worker, device_id, session=object(), session_state="connected")
        worker._handle(Disconnected(device_id, reason="stream error"))  # noqa: SLF001
        assert (state.status, state.session_state) == ("offline", "disconnected")
        assert fleet.sql("SELECT status, last_error FROM devices WHERE id = :d",
                         d=device_id) == [("offline", "stream error")]
        state.offline_retries = 3
        worker._handle(Connected(device_id))  # noqa: SLF001
        assert (state.status, state.session_state, state.offline_retries) == (
            "online", "connected", 0)
    assert fleet.sql("SELECT status FROM devices WHERE id = :d", d=device_id) == [("online",)]


def test_a_qr_code_is_shown_and_a_pairing_records_the_identity(fleet, fast_settings, database_url):
    device_id = fleet.device(fleet.user(), status="pairing")
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    with idle_worker(fast_settings, database_url) as worker:
        state = hold(worker, device_id, session=object(), session_state="pairing",
                     pairing_deadline=1e12)
        worker._handle(QrCode(device_id, "2@abc", expires))  # noqa: SLF001
        assert fleet.sql("SELECT pairing_qr FROM devices WHERE id = :d", d=device_id) == [
            ("2@abc",)]
        worker._handle(Paired(device_id, jid="60123@s.whatsapp.net", phone="+60123"))  # noqa: SLF001
        assert (state.status, state.jid, state.phone, state.pairing_deadline) == (
            "online", "60123@s.whatsapp.net", "+60123", None)
    assert fleet.sql("SELECT status, jid, phone FROM devices WHERE id = :d", d=device_id) == [
        ("online", "60123@s.whatsapp.net", "+60123")]


def test_an_event_of_a_device_not_held_changes_nothing(fleet, fast_settings, database_url):
    device_id = fleet.device(fleet.user())
    with idle_worker(fast_settings, database_url) as worker:
        worker._handle(Disconnected(device_id, reason="not ours"))  # noqa: SLF001
    assert fleet.sql("SELECT status, last_error FROM devices WHERE id = :d", d=device_id) == [
        ("online", None)]
