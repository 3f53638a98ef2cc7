"""Migration 0090 turns the sequence_logs table into a view over message_queue (a queued step IS
its message) plus sequence_skips: a database populated under the old schema shows the same log
rows afterwards, through the API and on the sequence page."""

import re
import shutil

from sqlalchemy import text

from dripfleet import database
from dripfleet.migrations import MIGRATIONS_DIR, migrate
from dripfleet.stores import users
from webapp import auth, create_app

MIGRATION = "0090_one_write_per_message.sql"

# (lead name, day, message status, message last_error, log status, log error), as the old code
# wrote them: the log followed its message's outcome, and a template problem had no message
OLD_ROWS = [
    ("Ana", 1, "sent", None, "sent", None),
    ("Ana", 2, "queued", "timeout; queued again", "queued", None),
    ("Ben", 1, "failed", "recipient: not on WhatsApp", "failed", "recipient: not on WhatsApp"),
    ("Cai", 1, "expired", "expired: waited longer than 72 h", "failed", "expired"),
    ("Dev", 1, "cancelled", "lead replied", "skipped", "lead replied"),
    ("Eve", 1, None, None, "skipped", "template: unknown variable 'shoe_size'"),
    ("Fay", 1, "held", None, "queued", None),
    ("Gus", 1, "sending", None, "queued", None),
]


def _old_schema(url: str, tmp_path) -> None:
    folder = tmp_path / "before"
    folder.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < MIGRATION:
            shutil.copy(path, folder / path.name)
    migrate(url, folder)


def _populate(engine, user_id: int) -> int:
    """A two-step sequence with one contact per OLD_ROWS lead, written as the old code did."""
    with engine.begin() as conn:
        run = lambda sql, **kw: conn.execute(text(sql), {"u": user_id, **kw})  # noqa: E731
        device = run("INSERT INTO devices (user_id, name, status) VALUES (:u, 'Phone', 'online')"
                     " RETURNING id").scalar_one()
        sequence = run("INSERT INTO sequences (user_id, name, niche, status) VALUES"
                       " (:u, 'Welcome', 'fitness', 'active') RETURNING id").scalar_one()
        steps = {day: run("INSERT INTO sequence_steps (user_id, sequence_id, day, send_time, body)"
                          " VALUES (:u, :s, :d, '09:00', :b) RETURNING id",
                          s=sequence, d=day, b=f"Day {day} hello").scalar_one()
                 for day in (1, 2)}
        contacts: dict[str, tuple[int, int]] = {}
        for n, (name, day, status, error, log_status, log_error) in enumerate(OLD_ROWS):
            if name not in contacts:
                lead = run("INSERT INTO leads (user_id, phone, name) VALUES (:u, :p, :n)"
                           " RETURNING id", p=f"+6012300{n:04d}", n=name).scalar_one()
                contact = run("INSERT INTO sequence_contacts (user_id, sequence_id, lead_id,"
                              " current_day) VALUES (:u, :s, :l, :d) RETURNING id",
                              s=sequence, l=lead, d=day).scalar_one()
                contacts[name] = (lead, contact)
            lead, contact = contacts[name]
            message = None
            if status is not None:
                message = run(
                    "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, source,"
                    " sequence_id, contact_id, step_id, dedupe_key, status, last_error, sent_at,"
                    " lease_owner, lease_until, attempts)"
                    " SELECT :u, :dev, id, phone, :b, 'sequence', :s, :c, :st, :k, :status, :e,"
                    " CASE WHEN :status = 'sent' THEN now() END,"
                    " CASE WHEN :status = 'sending' THEN 'host-1' END,"
                    " CASE WHEN :status = 'sending' THEN now() + interval '1 minute' END,"
                    " CASE WHEN :status IN ('sent', 'failed', 'sending') THEN 1 ELSE 0 END"
                    " FROM leads WHERE id = :l RETURNING id",
                    dev=device, b=f"Day {day} hello", s=sequence, c=contact, st=steps[day],
                    k=f"seq:{contact}:{steps[day]}", status=status, e=error, l=lead,
                ).scalar_one()
            run("INSERT INTO sequence_logs (user_id, sequence_id, contact_id, step_id, day,"
                " status, message_id, error, sent_at)"
                " SELECT :u, :s, :c, :st, :d, :ls, :m, :le, sent_at"
                " FROM (SELECT (SELECT sent_at FROM message_queue WHERE id = :m) AS sent_at) x",
                s=sequence, c=contact, st=steps[day], d=day, ls=log_status, m=message,
                le=log_error)
    return sequence


def _app(url: str):
    return create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "test",
                       "WTF_CSRF_ENABLED": False})


def _seen(app, user_id: int, token: str, sequence: int) -> tuple[list, list, list]:
    """What the API's log, the API's contacts and the sequence page's log show."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    logs = client.get(f"/api/sequences/{sequence}/logs", headers=headers).get_json()["items"]
    api = sorted((g["phone"], g["day"], g["status"], g["error"], g["step_id"],
                  g["message_id"] is not None, g["failure_class"]) for g in logs)
    contacts = client.get(f"/api/sequences/{sequence}/contacts", headers=headers).get_json()
    progress = sorted((c["phone"], c["current_day"], c["sent_days"]) for c in contacts["items"])
    with client.session_transaction() as session:
        session[auth.SESSION_KEY] = user_id
    page = client.get(f"/sequences/{sequence}").get_data(as_text=True)
    rows = re.findall(r'<tr class="log"[^>]*>(.*?)</tr>', page, re.S)
    shown = sorted(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in rows)
    return api, progress, shown


def test_a_populated_database_shows_the_same_log_after_the_migration(empty_database_url,
                                                                      tmp_path):
    _old_schema(empty_database_url, tmp_path)
    engine = database.get_engine(empty_database_url)
    with engine.begin() as conn:
        user = users.create_user(conn, "migrated@example.com", "correct horse battery")
        token, _ = users.create_token(conn, user["id"], "test")
    sequence = _populate(engine, user["id"])
    before = _seen(_app(empty_database_url), user["id"], token, sequence)
    assert len(before[0]) == len(OLD_ROWS) and len(before[2]) == len(OLD_ROWS)
    # the old statuses as written, so the comparison below means something
    assert sorted((row[1], row[2]) for row in before[0]) == sorted(
        (day, log_status) for _, day, _, _, log_status, _ in OLD_ROWS)

    # deployed as a release would be: migrate, then the web app starts again
    database.dispose_engines()
    applied = migrate(empty_database_url)  # 0090 and any migration after it
    assert applied[0] == MIGRATION and applied == sorted(applied)
    after = _seen(_app(empty_database_url), user["id"], token, sequence)
    engine = database.get_engine(empty_database_url)

    assert after == before
    with engine.begin() as conn:
        assert conn.execute(text("SELECT to_regclass('sequence_logs'), relkind FROM pg_class"
                                 " WHERE relname = 'sequence_logs'")).one()[1] == "v"
        # the template problem is the only step without a message
        assert conn.execute(text("SELECT day, error FROM sequence_skips")).all() == [
            (1, "template: unknown variable 'shoe_size'")]
        # a log entry of a message is that message
        assert conn.execute(text(
            "SELECT count(*) FROM sequence_logs WHERE message_id IS NOT NULL"
            " AND id <> message_id")).scalar_one() == 0
