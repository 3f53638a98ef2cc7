"""Broadcast-job counters have one place: broadcast_jobs_count(), which every statement that
finishes messages calls (migration 0090). A new statement that finishes messages without it
fails here, and the function counts each final status and closes the job."""

import re

from sqlalchemy import text

from dripfleet.queries import queries

FINAL = ("sent", "failed", "cancelled", "expired")
# `UPDATE message_queue ... SET ...` up to the WHERE / FROM / RETURNING that ends its SET list
_UPDATE = re.compile(r"UPDATE\s+message_queue\b.*?\bSET\b(.*?)(?:\bFROM\b|\bWHERE\b|\bRETURNING\b)",
                     re.S | re.I)
_BY_HAND = re.compile(r"UPDATE\s+broadcast_jobs\b.*?(sent|failed|cancelled|expired)_count\s*=",
                      re.S | re.I)
_STATUS_SET = re.compile(r"(?<![a-z_.])status\s*=\s*(CASE\b.*?\bEND\b|'[a-z]+')", re.S | re.I)


def _finishes(sql: str) -> bool:
    """Does a statement set some message's status to a final one?"""
    for set_list in _UPDATE.findall(sql):
        for value in _STATUS_SET.findall(set_list):
            if any(f"'{status}'" in value for status in FINAL):
                return True
    return False


def test_the_scan_finds_statements_that_finish_messages():
    assert _finishes("UPDATE message_queue SET status = 'cancelled', updated_at = now() WHERE x")
    assert _finishes("UPDATE message_queue q SET\n  status = CASE WHEN a THEN 'failed'"
                     " ELSE 'queued' END, x = 1 FROM r WHERE q.id = r.id")
    assert not _finishes("UPDATE message_queue SET status = 'held' WHERE status = 'queued'")
    assert not _finishes("UPDATE message_queue SET device_id = 3 WHERE status = 'cancelled'")


def test_every_statement_that_finishes_messages_counts_them_on_their_jobs():
    finishing = [name for name in queries if _finishes(queries[name].sql)]
    # the ones known today, so that the scan itself cannot silently find nothing
    assert {"claim_messages", "record_outcomes", "rescue_messages", "opt_out_lead",
            "expire_old_messages", "replies_stop_messages",
            "messages_cancel_waiting"} <= set(finishing)
    missing = [name for name in finishing if "broadcast_jobs_count(" not in queries[name].sql]
    assert missing == [], f"these finish messages without broadcast_jobs_count(): {missing}"
    # and nothing else writes the counters by hand
    by_hand = [name for name in queries if _BY_HAND.search(queries[name].sql)]
    assert by_hand == [], f"these update job counters by hand: {by_hand}"


def test_the_function_counts_each_final_status_and_closes_a_finished_job(engine, make_user):
    user = make_user()
    with engine.begin() as conn:
        job, other = conn.execute(text(
            "INSERT INTO broadcast_jobs (user_id, source, total_count)"
            " VALUES (:u, 'api', 5), (:u, 'api', 9) RETURNING id"), {"u": user["id"]}).scalars()
        updated = conn.execute(text(
            "SELECT broadcast_jobs_count(CAST(:jobs AS bigint[]), CAST(:statuses AS text[]))"), {
                "jobs": [job, job, job, None, other, job, job],
                "statuses": ["sent", "failed", "queued", "sent", "cancelled", "cancelled",
                             "expired"]}).scalar_one()
        assert updated == 2
        rows = conn.execute(text(
            "SELECT id, sent_count, failed_count, cancelled_count, expired_count,"
            " finished_at IS NOT NULL FROM broadcast_jobs WHERE id IN (:a, :b) ORDER BY id"),
            {"a": job, "b": other}).all()
    # 'queued' and a message without a job count nowhere; 4 of 5 finished: the job stays open
    assert [tuple(r) for r in rows] == [(job, 1, 1, 1, 1, False), (other, 0, 0, 1, 0, False)]
    with engine.begin() as conn:
        conn.execute(text("SELECT broadcast_jobs_count(ARRAY[CAST(:j AS bigint)], ARRAY['sent'])"),
                     {"j": job})
        assert conn.execute(text("SELECT sent_count, finished_at IS NOT NULL FROM broadcast_jobs"
                                 " WHERE id = :j"), {"j": job}).one() == (2, True)
