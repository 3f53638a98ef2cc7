"""Issue 15 (build 6): whatsmeow's send error 463 "reach-out timelocked" is a restriction of the
device (it waits; the message is not at fault), not a transient failure retried at once."""

from datetime import UTC, datetime, timedelta

import pytest

from device_host.transports.base import RestrictedError, TransientError
from device_host.transports.neonize_errors import TIMELOCK_WAIT_SECONDS, classify

# `factory`: neonize loaded the way the transport loads it (its helper processes are reaped)


@pytest.mark.parametrize("text", [
    "server returned error 463",
    "failed to send message: reach-out timelocked",
])
def test_error_463_is_a_timelock_with_an_end(factory, text: str) -> None:
    from neonize.exc import SendMessageError

    before = datetime.now(UTC)
    mapped = classify(SendMessageError(text), "send")
    assert isinstance(mapped, RestrictedError), mapped
    assert (mapped.kind, mapped.code, mapped.failure_class) == ("timelock", 463, "device")
    wait = timedelta(seconds=TIMELOCK_WAIT_SECONDS)
    assert before + wait <= mapped.until <= datetime.now(UTC) + wait
    assert "timelocked" in str(mapped) and text in str(mapped)


def test_other_server_errors_stay_transient(factory) -> None:
    from neonize.exc import SendMessageError

    mapped = classify(SendMessageError("server returned error 500"), "send")
    assert type(mapped) is TransientError
