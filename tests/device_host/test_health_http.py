import json
import socket
import urllib.error
import urllib.request

import pytest

from device_host.health_http import serve_health


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - http only
        return json.loads(answer.read())


def test_healthz_answers_on_ipv4_and_ipv6():
    server = serve_health(0, lambda: (200, {"status": "ok"}))
    try:
        port = server.server_address[1]
        assert _get(f"http://127.0.0.1:{port}/healthz") == {"status": "ok"}
        if not socket.has_ipv6:
            pytest.fail("this machine has no IPv6: the dual-stack bind cannot be checked")
        assert _get(f"http://[::1]:{port}/healthz") == {"status": "ok"}
    finally:
        server.shutdown()
        server.server_close()


def test_other_paths_are_404_and_a_failing_report_is_503_without_its_text():
    def broken():
        raise RuntimeError("database unreachable")

    server = serve_health(0, broken)
    try:
        port = server.server_address[1]
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=5)  # noqa: S310
        assert missing.value.code == 404
        missing.value.close()
        with pytest.raises(urllib.error.HTTPError) as failing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)  # noqa: S310
        assert failing.value.code == 503
        # no exception text on an unauthenticated endpoint (it stays in the log)
        assert json.loads(failing.value.read()) == {"status": "error"}
        failing.value.close()
    finally:
        server.shutdown()
        server.server_close()
