from datetime import UTC, datetime

from sqlalchemy import text

from dripfleet.demo import DEMO_EMAIL, DEMO_LEADS, ensure_demo
from dripfleet.settings import Settings
from dripfleet.stores import users


def counts(engine):
    with engine.begin() as conn:
        return {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("users", "devices", "leads", "sequences", "sequence_steps", "campaigns",
                          "media", "api_tokens")
        }


def test_demo_workspace_is_created_once_with_working_credentials(engine, tmp_path):
    settings = Settings(data_dir=tmp_path)
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    lines = ensure_demo(engine, settings, now=now)
    first = counts(engine)
    assert first == {"users": 1, "devices": 3, "leads": DEMO_LEADS, "sequences": 1,
                     "sequence_steps": 3, "campaigns": 1, "media": 2, "api_tokens": 1}
    password = lines[0].rsplit(" / ", 1)[1]
    token = lines[1].rsplit(" ", 1)[1]
    with engine.begin() as conn:
        assert users.authenticate(conn, DEMO_EMAIL, password) is not None
        assert users.user_for_token(conn, token)["email"] == DEMO_EMAIL
        kinds = conn.execute(text("SELECT message_type FROM sequence_steps ORDER BY day")).scalars()
        assert list(kinds) == ["text", "image", "document"]
        sql = "SELECT DISTINCT unnest(niches) FROM leads ORDER BY 1"
        niches = conn.execute(text(sql)).scalars()
        assert list(niches) == ["fitness", "real estate", "yoga"]
        scheduled = conn.execute(text("SELECT scheduled_at FROM campaigns")).scalar_one()
        assert (scheduled - now).total_seconds() == 120
        online = conn.execute(text("SELECT count(*) FROM devices WHERE status = 'online'")).scalar()
        assert online == 3
    assert (tmp_path / "demo-login.txt").stat().st_mode & 0o777 == 0o600
    again = ensure_demo(engine, settings, now=now)
    assert again == lines
    assert counts(engine) == first
