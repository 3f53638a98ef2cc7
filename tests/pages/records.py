"""Rows for page tests: a device, a sequence (no steps) and a draft campaign of one user."""

from sqlalchemy import Engine

from tests.conftest import scalar


def make_records(engine: Engine, user_id: int) -> dict[str, int]:
    """Insert one device, sequence and campaign for user_id; their ids by kind."""
    device = scalar(engine, "INSERT INTO devices (user_id, name) VALUES (:u, 'Phone A') "
                            "RETURNING id", u=user_id)
    sequence = scalar(engine, "INSERT INTO sequences (user_id, name, niche) "
                              "VALUES (:u, 'Welcome', 'fitness') RETURNING id", u=user_id)
    campaign = scalar(engine, "INSERT INTO campaigns (user_id, title, body) "
                              "VALUES (:u, 'Promo', 'Hello') RETURNING id", u=user_id)
    return {"device": device, "sequence": sequence, "campaign": campaign}
