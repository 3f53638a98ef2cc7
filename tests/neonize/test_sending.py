"""Sending rules of the real transport: "typing…" scaled to length, is-on-WhatsApp cached."""

from dataclasses import replace

import pytest

from device_host.transports.base import DeviceInfo, PermanentError, TransientError


def test_typing_time_scales_with_length_and_is_capped(factory) -> None:
    factory.settings = replace(factory.settings, typing_seconds_per_char=0.05,
                               typing_max_seconds=4.0)
    session = factory.open(DeviceInfo(device_id=41, user_id=1, name="t"))
    assert session.typing_seconds("") == 0
    assert session.typing_seconds("x" * 20) == pytest.approx(1.0)
    assert session.typing_seconds("x" * 500) == 4.0


def test_a_number_known_not_on_whatsapp_fails_permanently_without_a_call(factory) -> None:
    factory.settings = replace(factory.settings, check_on_whatsapp=True)
    session = factory.open(DeviceInfo(device_id=42, user_id=1, name="w"))
    factory.remember_on_whatsapp("+60100000042", False)
    with pytest.raises(PermanentError, match=r"\+60100000042 is not on WhatsApp"):
        session.send_text("+60100000042", "hello")
    # an unknown number needs the (offline) check: transient, and nothing is cached
    with pytest.raises(TransientError):
        session.send_text("+60100000043", "hello")
    assert factory.cached_on_whatsapp("+60100000043") is None
    assert factory.cached_on_whatsapp("+60100000042") is False


def test_pairing_deadline_stops_the_client_with_a_clear_reason(factory) -> None:
    from device_host.transports.base import Disconnected

    got: list = []
    session = factory.open(DeviceInfo(device_id=43, user_id=1, name="p", pairing_mode="qr"))
    session._on_event = got.append
    session.client = session._new_client()
    session._pairing_timed_out()
    assert got == [Disconnected(43, "pairing timed out")]
    assert session.client is None and session._stopped.is_set()
    # once paired, the deadline does nothing
    paired: list = []
    done = factory.open(DeviceInfo(device_id=44, user_id=1, name="q", pairing_mode="qr"))
    done._on_event = paired.append
    done.client = done._new_client()
    done._paired.set()
    done._pairing_timed_out()
    assert paired == [] and done.client is not None
    done.stop()
