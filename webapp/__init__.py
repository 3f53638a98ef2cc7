"""The web application: REST API under /api and the server-rendered pages (Flask + gunicorn).

Owns definitions (users, leads, sequences, campaigns, devices, media) and status reads. Must never
send a message itself; it writes rows that the pipelines and the device host act on.
"""

from typing import Any

from apiflask import APIFlask


def create_app(test_config: dict[str, Any] | None = None) -> APIFlask:
    """Build the app: settings, database engine, error shape, auth, API blueprints, docs."""
    from webapp import factory

    return factory.build(test_config)
