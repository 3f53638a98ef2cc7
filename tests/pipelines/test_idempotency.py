"""Acceptance 2: the same tick twice, and two ticks at once, queue each message exactly once."""

import threading
from datetime import UTC, datetime

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def build(world, leads: int = 300) -> tuple[int, int]:
    user = world.user()
    for i in range(3):
        world.device(user, name=f"phone {i}")
    world.leads(user, leads, ["yoga"])
    seq = world.sequence(user, niche="yoga", steps=[(1, "09:00"), (2, "09:00")])
    camp = world.campaign(user, NOW, niche="yoga")
    return seq, camp


def assert_exactly_once(world, leads: int) -> None:
    assert world.value("SELECT count(*) FROM sequence_contacts") == leads
    assert world.value("SELECT count(*) FROM message_queue WHERE source = 'sequence'") == leads
    assert world.value("SELECT count(*) FROM message_queue WHERE source = 'campaign'") == leads
    assert world.value("SELECT count(*) FROM sequence_logs") == leads
    assert world.value("SELECT count(*) FROM sequence_contacts WHERE current_day = 1") == leads
    assert world.value("SELECT sum(total_count) FROM broadcast_jobs") == 2 * leads


def test_the_same_tick_twice_queues_once(world, tick):
    build(world)
    tick(NOW)
    tick(NOW)
    assert_exactly_once(world, 300)


def test_two_ticks_racing_queue_once(world, tick):
    build(world)
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def race() -> None:
        try:
            barrier.wait()
            tick(NOW)
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=race) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_exactly_once(world, 300)
