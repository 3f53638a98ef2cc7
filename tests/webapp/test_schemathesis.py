"""Schemathesis against the API over HTTP: every phase, positive and negative data, every check.

The app is served by a threaded werkzeug server in this process (on the module's database) and
the `schemathesis run` command tests /api/openapi.json from its own process, exactly as a user
would run it. Phases: examples, coverage (boundary and negative values of every parameter,
unexpected methods), fuzzing, stateful (links inferred from Location headers and responses).
Checks: all of them, including negative_data_rejection, positive_data_acceptance, use_after_free,
ensure_resource_availability, ignored_auth and, with two users, object_level_authorization.
"""

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from werkzeug.serving import WSGIRequestHandler, make_server

from dripfleet import credentials

# Hypothesis examples per operation (fuzzing) and stateful scenarios. The coverage phase does not
# depend on it: it sends every boundary and negative value of every parameter anyway (about
# 10,000 requests). At 50 the whole run takes one and a half to two minutes on 2 shared cores;
# 200 takes over three and found one more problem (fixed since). Raise it locally to dig deeper.
MAX_EXAMPLES = 50
# a run-away generator must fail the test, not hang the suite
TIMEOUT_SECONDS = 900

# Rules that JSON Schema cannot state, so a schema-valid body may still be refused with a 422
# that names the field: references to other rows (pinned_device_id, media_id, lead_ids: "no
# device 7"), template syntax of body and caption, niche grammar, content that depends on
# message_type ("a text message needs a body"), quiet_start with quiet_end, min_delay_s at most
# max_delay_s, public-only media URLs, the current password, and an email address that the
# `email` format admits but no mail system delivers to ("0@0.a": a one-letter top-level domain).
# Only these operations may answer 422 to positive data; everywhere else it is a failure.
SEMANTIC_422 = [
    "POST /api/devices", "PATCH /api/devices/{device_id}",
    "POST /api/campaigns", "PUT /api/campaigns/{campaign_id}",
    "POST /api/campaigns/{campaign_id}/schedule",
    "POST /api/sequences", "PUT /api/sequences/{sequence_id}",
    "POST /api/sequences/{sequence_id}/contacts",
    "POST /api/leads", "PATCH /api/leads/{lead_id}", "POST /api/leads/import",
    "POST /api/devices/{device_id}/pair",
    "POST /api/messages",  # lead_id or phone (one of them), a phone that is a number, as above
    # a webhook URL must be https on a public address: a rule no JSON Schema pattern states
    "POST /api/webhooks", "PATCH /api/webhooks/{webhook_id}",
    "POST /api/auth/register", "POST /api/auth/password",
]
# an upload is read: one that is empty, or not a text CSV / an accepted media type by its bytes,
# is a 400 / 415 whatever its declared type
FILE_REFUSALS = {"POST /api/leads/import": [400, 415], "POST /api/media": [400, 415]}
POSITIVE_OK = ["2xx", "3xx", 401, 403, 404, 409, 429, "5xx"]


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - werkzeug's
        pass  # thousands of access lines would only slow the server down


def _toml_list(values: list) -> str:
    return json.dumps(values)


def _config(folder: Path, tokens: dict[str, str], spare: str) -> Path:
    auth = folder / "auth.json"
    auth.write_text(json.dumps({"auth": [
        {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}]}
        for name, token in tokens.items()]}))
    lines = [
        "seed = 20261202",  # the same cases every run: a failure reproduces
        "[generation]", f"max-examples = {MAX_EXAMPLES}", 'database = "none"',
        "[auth.wfc]", f'path = "{auth}"', f"peers = {_toml_list(sorted(tokens))}",
    ]
    for label in sorted(set(SEMANTIC_422) | set(FILE_REFUSALS)):
        statuses = POSITIVE_OK + [422] * (label in SEMANTIC_422) + FILE_REFUSALS.get(label, [])
        # one filter: an include-method and an include-path would be two alternatives
        lines += ["[[operations]]", f'include-name = "{label}"',
                  "[operations.checks.positive_data_acceptance]",
                  f"expected-statuses = {_toml_list(statuses)}"]
    # DELETE /api/tokens/1 revokes whichever token has id 1 if it is the caller's: the coverage
    # phase tries 1 first, and the peers' own tokens are among the lowest ids. A third user
    # revokes only its own tokens, so the peers keep theirs for the rest of the run.
    lines += ["[[operations]]", 'include-name = "DELETE /api/tokens/{token_id}"',
              "[operations.headers]", f'Authorization = "Bearer {spare}"']
    config = folder / "schemathesis.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


@pytest.fixture
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its lowest cost: the coverage phase registers hundreds of users, and each hash
    at the production cost (~0.2 s of CPU) would make that phase alone take minutes."""
    monkeypatch.setattr(credentials, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                               parallelism=1))


@pytest.fixture
def served(app, cheap_hashes):
    """The app on a free local port: its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


# the run itself is bounded by TIMEOUT_SECONDS; the suite's 300 s default would cut it short on a
# loaded machine (every route is fuzzed in four phases)
@pytest.mark.timeout(TIMEOUT_SECONDS + 60)
def test_the_api_passes_every_schemathesis_phase_and_check(served, make_account, tmp_path):
    alice, bob, carol = make_account(), make_account(), make_account()
    tokens = {"alice": alice.token, "bob": bob.token}
    config = _config(tmp_path, tokens, carol.token)
    command = [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(config),
               "--no-color", "run", f"{served}/api/openapi.json",
               "--phases", "examples,coverage,fuzzing,stateful", "--mode", "all",
               # one worker: with two threads, Hypothesis parses lambdas' sources with ast.parse
               # concurrently, which CPython 3.11 before 3.11.8 sometimes fails with "SystemError:
               # AST constructor recursion depth mismatch" (python/cpython#106905); it failed a
               # CI run here. The CLI's threads share the GIL anyway: one is about as fast
               "--checks", "all", "--workers", "1",
               "--report", "json", "--report-json-path", str(tmp_path / "report.json")]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                            timeout=TIMEOUT_SECONDS, check=False)
    output = result.stdout + result.stderr
    report = output[output.find("=== FAILURES"):] if "=== FAILURES" in output else output
    assert result.returncode == 0, report[-20000:]
    summary = json.loads((tmp_path / "report.json").read_text())
    assert summary["complete"] and summary["failures"] == [] and summary["errors"] == []
    assert {name: phase["status"] for name, phase in summary["phases"].items()} == {
        "examples": "success", "coverage": "success", "fuzzing": "success", "stateful": "success"}
    assert summary["operations"]["tested"] == summary["operations"]["total"] >= 50
    # the peers were themselves all along (no 401s for want of a token)
    assert alice.get("/api/auth/me").status_code == 200
    assert bob.get("/api/auth/me").status_code == 200
