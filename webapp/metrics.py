"""GET /metrics of the web app, and the request counters every answer feeds.

Requests are counted by route template (`/api/leads/<id:lead_id>`, never the ids themselves),
method and status. Under gunicorn's several workers the counts live in PROMETHEUS_MULTIPROC_DIR
(webapp/gunicorn_conf.py) and a scrape of any worker reads them all. The queue gauges come from
dripfleet.metrics.QueueCollector. Outside /api: neither the session nor an API token applies,
METRICS_TOKEN or the loopback rule does (dripfleet.metrics.metrics_allowed).
"""

import time

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from prometheus_client import Counter, Histogram

from dripfleet import metrics

bp = Blueprint("metrics", __name__)

HTTP_REQUESTS = Counter(
    "dripfleet_http_requests", "HTTP requests answered by the web app, by route template",
    ["route", "method", "status"])
HTTP_SECONDS = Histogram(
    "dripfleet_http_request_duration_seconds", "Time the web app took to answer",
    ["route", "method"])


@bp.get("/metrics")
def scrape() -> Response:
    """The Prometheus exposition (text format)."""
    token = current_app.config["SETTINGS"].metrics_token
    original = request.environ.get("werkzeug.proxy_fix.orig", {})
    peer = original.get("REMOTE_ADDR", request.remote_addr)
    relayed = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    if not metrics.metrics_allowed(token, request.headers.get("Authorization"), peer, relayed):
        status, reason = metrics.refusal(token)
        code = "unauthorized" if status == 401 else "forbidden"
        answer = jsonify({"error": {"code": code, "message": reason, "fields": {}}})
        answer.status_code = status
        if status == 401:
            answer.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return answer
    body = metrics.render(extra=[current_app.extensions["dripfleet_queue_metrics"]])
    return Response(body, content_type=metrics.CONTENT_TYPE)


def _started() -> None:
    g.metrics_started = time.perf_counter()


def _answered(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        HTTP_SECONDS.labels(route, request.method).observe(
            time.perf_counter() - started)
    return response


def install(app: Flask) -> None:
    """Count every request and serve /metrics."""
    app.extensions["dripfleet_queue_metrics"] = metrics.QueueCollector(
        app.extensions["dripfleet_engine"])
    app.before_request(_started)
    app.after_request(_answered)
    app.register_blueprint(bp)
