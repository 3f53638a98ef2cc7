"""Issue 13, acceptance 2: `dripfleet sim-reply` from a contact of a running sequence, through a
real device worker on the simulated network, with ticks racing the reply on another thread.

stop: the reply is in the lead's conversation and the inbox, the contact becomes `replied`, and its
next step is never queued nor sent while the other contact's goes out. pause: the contact waits
until the resume endpoint's service resumes it, then its next step goes out. continue: it goes out.
"""

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest

from dripfleet.materialise.sequences import materialise_sequence_messages
from webapp.services import conversations
from webapp.services import sequences as sequence_service

BUFFER = 1000
# ticks as of two days on: day 2 (tomorrow 09:00 UTC) is due whatever the time of day now
DAY_TWO_DUE = timedelta(days=2)


def _sim_reply(database_url: str, phone: str, device: int, text: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dripfleet.cli", "sim-reply", "--from", phone, "--to",
         str(device), text],
        env={**os.environ, "DATABASE_URL": database_url}, capture_output=True, text=True,
        timeout=60)
    assert done.returncode == 0, done.stderr


def _sequence(fleet, user: int, rule: str, leads: list[int]) -> int:
    sequence = fleet.sql(
        "INSERT INTO sequences (user_id, name, niche, status, on_reply)"
        " VALUES (:u, 'Welcome', 'fitness', 'active', :r) RETURNING id", u=user, r=rule)[0][0]
    for day in (1, 2):
        fleet.sql("INSERT INTO sequence_steps (user_id, sequence_id, day, send_time, body)"
                  " VALUES (:u, :s, :d, '09:00', :b)", u=user, s=sequence, d=day, b=f"day {day}")
    for lead in leads:
        fleet.sql("INSERT INTO sequence_contacts (user_id, sequence_id, lead_id, next_due_at)"
                  " VALUES (:u, :s, :l, now() - interval '1 minute')", u=user, s=sequence, l=lead)
    return sequence


class RacingTicks:
    """Ticks in a loop on their own thread, each as of two days on (day 2 due), until stopped."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.stop = threading.Event()
        self.ticks = 0
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                materialise_sequence_messages(
                    self.engine, datetime.now(UTC) + DAY_TWO_DUE, BUFFER)
                self.ticks += 1
        except BaseException as error:  # surfaced by the test
            self.errors.append(error)

    def check(self) -> bool:
        """True while no tick failed (raises the first failure)."""
        if self.errors:
            raise AssertionError(f"a racing tick failed: {self.errors[0]!r}") from self.errors[0]
        return True

    def __enter__(self) -> "RacingTicks":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        assert not self.errors, f"a racing tick failed: {self.errors[0]!r}"
        assert self.ticks > 0, "no tick ran: nothing raced"


def _day_two(fleet, contact_lead: int) -> list:
    return fleet.sql("SELECT q.status FROM message_queue q JOIN sequence_logs g"
                     " ON g.message_id = q.id WHERE q.lead_id = :l AND g.day = 2", l=contact_lead)


@pytest.mark.parametrize("rule", ["stop", "pause", "continue"])
def test_sim_reply_from_a_contact_follows_the_sequences_on_reply_rule(
    fleet, run_worker, database_url, engine, rule
):
    user = fleet.user()
    # 3 s between sends: the day-2 steps the racing ticks queue wait long enough that what the
    # reply does to them decides, not which thread was faster
    device = fleet.device(user, min_delay=3, max_delay=3)
    replier, replier_phone = fleet.lead(user)
    control, control_phone = fleet.lead(user)
    sequence = _sequence(fleet, user, rule, [replier, control])
    run_worker()
    materialise_sequence_messages(engine, datetime.now(UTC), BUFFER)  # day 1 for both
    fleet.wait_until(lambda: len(fleet.deliveries(device)) == 2)

    # the ticks start as the lead's message reaches the network: they race the host taking it
    _sim_reply(database_url, replier_phone, device, "Thanks, tell me more")
    with RacingTicks(engine) as ticks:
        fleet.wait_until(lambda: ticks.check() and fleet.sql(
            "SELECT count(*) FROM inbound_messages WHERE lead_id = :l", l=replier)[0][0] == 1)
        fleet.wait_until(lambda: ticks.check() and len(_day_two(fleet, control)) == 1)

    # the reply is in the lead's conversation and the inbox, answering day 1
    with engine.begin() as conn:
        thread = conversations.conversation(conn, user, replier)["items"]
        inbox = conversations.inbox(conn, user)["items"]
    assert ("in", "Thanks, tell me more") in [(i["direction"], i["text"]) for i in thread]
    assert ("out", "day 1", "sent") in [(i["direction"], i["text"], i.get("status"))
                                        for i in thread]
    assert [row["lead_id"] for row in inbox] == [replier]
    assert fleet.sql("SELECT q.replied_at IS NOT NULL FROM message_queue q JOIN sequence_logs g"
                     " ON g.message_id = q.id WHERE q.lead_id = :l AND g.day = 1",
                     l=replier)[0][0]
    # a figure, not an assertion (timings belong in bench/): how long the host took to store it
    latency = fleet.sql("SELECT extract(epoch FROM recorded_at - received_at)"
                        " FROM inbound_messages WHERE lead_id = :l", l=replier)[0][0]
    print(f"reply stored {float(latency):.3f} s after the network handed it over")

    contact = fleet.sql("SELECT id, status FROM sequence_contacts WHERE lead_id = :l",
                        l=replier)[0]
    if rule == "stop":
        assert contact.status == "replied"
        # a racing tick may have queued it before the reply was stored: then it was cancelled
        assert _day_two(fleet, replier) in ([], [("cancelled",)])
    elif rule == "pause":
        assert contact.status == "paused"
        assert _day_two(fleet, replier) in ([], [("held",)])
        with engine.begin() as conn:
            resumed = sequence_service.resume_contact(conn, user, sequence, contact.id)
        assert resumed["contact"]["status"] == "active"
        materialise_sequence_messages(engine, datetime.now(UTC) + DAY_TWO_DUE,
                                      BUFFER)
    else:
        # untouched by the reply: day 2 was its last step, so the racing ticks completed it
        assert contact.status == "completed"

    if rule == "stop":
        # nothing more for the replier, ever: a later tick queues nothing either
        materialise_sequence_messages(engine, datetime.now(UTC) + timedelta(days=3), BUFFER)
        fleet.wait_until(lambda: len(fleet.deliveries(device)) == 3)  # control's day 2
        assert _day_two(fleet, replier) in ([], [("cancelled",)])
        sent_to = [d.phone for d in fleet.deliveries(device)]
        assert sent_to.count(replier_phone) == 1 and sent_to.count(control_phone) == 2
    else:
        fleet.wait_until(lambda: len(fleet.deliveries(device)) == 4)
        # the network has it; the worker records the outcome just after
        fleet.wait_until(lambda: _day_two(fleet, replier) != [("sending",)])
        assert _day_two(fleet, replier) == [("sent",)]
