"""Acceptance 5: load balancing, usable devices only, preferred and pinned devices."""

from datetime import UTC, datetime

from dripfleet.materialise.device_choice import BUFFER_FULL, NO_USABLE_DEVICE, DeviceChooser

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def test_batch_is_spread_evenly_and_unusable_devices_get_none(world, tick):
    user = world.user()
    online = [world.device(user, name=f"on {i}") for i in range(3)]
    offline = [world.device(user, name="off", status=s) for s in ("logged_out", "new", "banned")]
    world.leads(user, 100, ["yoga"])
    world.sequence(user, niche="yoga")
    world.campaign(user, NOW)
    tick(NOW)
    for source in ("sequence", "campaign"):
        rows = world.sql(
            "SELECT device_id, count(*) AS n FROM message_queue WHERE source = :s"
            " GROUP BY device_id", s=source,
        )
        counts = {r["device_id"]: r["n"] for r in rows}
        assert set(counts) == set(online), counts
        assert max(counts.values()) - min(counts.values()) <= 1
    assert world.value(
        "SELECT count(*) FROM message_queue WHERE device_id = ANY(:d)", d=offline
    ) == 0
    assert world.value("SELECT count(*) FROM message_queue WHERE pinned") == 0


def test_preferred_then_pinned_device_when_usable(world, tick):
    user = world.user()
    a, b, c = (world.device(user, name=n) for n in "abc")
    down = world.device(user, name="down", status="logged_out")
    prefers_b = world.lead(user, ["yoga"], preferred_device_id=b)
    prefers_down = world.lead(user, ["yoga"], preferred_device_id=down)
    plain = world.lead(user, ["yoga"])
    world.sequence(user, niche="yoga", pinned_device_id=c)
    tick(NOW)
    rows = world.sql("SELECT lead_id, device_id, pinned FROM message_queue")
    got = {r["lead_id"]: (r["device_id"], r["pinned"]) for r in rows}
    assert got == {prefers_b: (b, True), prefers_down: (c, True), plain: (c, True)}
    assert a not in {device for device, _ in got.values()}


def test_chooser_prefers_the_least_loaded_and_respects_the_buffer():
    chooser = DeviceChooser(3, {1: {10: 2, 11: 0}})
    picks = [chooser.choose(1, None, None).device_id for _ in range(4)]
    assert picks == [11, 11, 10, 11]  # 11 fills up to 10's load, then they alternate
    full = chooser.choose(1, None, None)
    assert (full.device_id, full.reason) == (None, BUFFER_FULL)
    assert chooser.choose(2, None, None).reason == NO_USABLE_DEVICE
    assert chooser.choose(1, 10, None).reason == BUFFER_FULL  # preferred but full: waits
