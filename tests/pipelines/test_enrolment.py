"""Acceptance 3: niche matching, target status, users, opt-out, paused sources, templates."""

from datetime import UTC, datetime

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def enrolled(world, sequence_id: int) -> set[int]:
    rows = world.sql("SELECT lead_id FROM sequence_contacts WHERE sequence_id = :s", s=sequence_id)
    return {r["lead_id"] for r in rows}


def test_multi_niche_and_case_and_target_status(world, tick):
    user = world.user()
    world.device(user)
    # leads.niches is stored normalised (lower case) by the importers; sequences too
    multi = world.lead(user, ["fitness", "yoga"])
    single = world.lead(user, ["yoga"])
    customer = world.lead(user, ["yoga"], target_status="customer")
    other_niche = world.lead(user, ["cooking"])
    partial = world.lead(user, ["yoga-pro"])
    everyone = world.sequence(user, niche="yoga", target_status="all")
    customers = world.sequence(user, niche="yoga", target_status="customer")
    prospects = world.sequence(user, niche="fitness", target_status="prospect")
    tick(NOW)
    assert enrolled(world, everyone) == {multi, single, customer}
    assert enrolled(world, customers) == {customer}
    assert enrolled(world, prospects) == {multi}
    assert other_niche not in enrolled(world, everyone) and partial not in enrolled(world, everyone)
    # at most once: another tick (and a lead that changed nothing) enrols nobody again
    tick(NOW.replace(minute=1))
    assert world.value("SELECT count(*) FROM sequence_contacts") == 5


def test_other_users_leads_are_never_enrolled(world, tick):
    owner, stranger = world.user(), world.user()
    world.device(owner)
    world.device(stranger)
    mine = world.lead(owner, ["yoga"])
    world.lead(stranger, ["yoga"])
    seq = world.sequence(owner, niche="yoga")
    tick(NOW)
    assert enrolled(world, seq) == {mine}
    assert world.value("SELECT count(DISTINCT user_id) FROM message_queue") == 1


def test_opted_out_leads_are_never_enrolled_or_messaged(world, tick):
    user = world.user()
    world.device(user)
    out = world.lead(user, ["yoga"], opted_out=True)
    later = world.lead(user, ["yoga"])
    seq = world.sequence(user, niche="yoga", steps=[(1, "09:00"), (2, "09:00")])
    camp = world.campaign(user, NOW, niche="yoga")
    tick(NOW)
    assert enrolled(world, seq) == {later}
    assert world.value("SELECT count(*) FROM message_queue WHERE lead_id = :l", l=out) == 0
    # `later` opts out after day 1: day 2 is never queued and the contact stops
    world.sql("UPDATE leads SET opted_out_at = now() WHERE id = :l", l=later)
    tick(datetime(2026, 4, 2, 9, 0, tzinfo=UTC))
    assert world.value(
        "SELECT count(*) FROM message_queue WHERE lead_id = :l AND sequence_id = :s",
        l=later, s=seq,
    ) == 1
    assert world.value("SELECT status FROM sequence_contacts WHERE lead_id = :l", l=later) == (
        "opted_out"
    )
    assert world.value("SELECT count(*) FROM message_queue WHERE campaign_id = :c", c=camp) == 1


def test_paused_and_draft_sequences_and_paused_campaigns_queue_nothing(world, tick):
    user = world.user()
    world.device(user)
    world.lead(user, ["yoga"])
    paused = world.sequence(user, niche="yoga", status="paused")
    draft = world.sequence(user, niche="yoga", status="draft")
    world.campaign(user, NOW, niche="yoga", status="paused")
    world.campaign(user, NOW, niche="yoga", status="draft")
    tick(NOW)
    assert enrolled(world, paused) == set() and enrolled(world, draft) == set()
    assert world.value("SELECT count(*) FROM message_queue") == 0
    # a sequence paused after enrolment queues nothing while paused, then resumes
    active = world.sequence(user, niche="yoga", steps=[(1, "10:00")])
    tick(NOW)
    world.sql("UPDATE sequences SET status = 'paused' WHERE id = :s", s=active)
    tick(NOW.replace(hour=10))
    assert world.value("SELECT count(*) FROM message_queue") == 0
    world.sql("UPDATE sequences SET status = 'active' WHERE id = :s", s=active)
    tick(NOW.replace(hour=10, minute=1))
    assert world.value("SELECT count(*) FROM message_queue WHERE sequence_id = :s", s=active) == 1


def test_rendering_and_a_template_problem_skips_only_that_message(world, tick):
    user = world.user()
    world.device(user)
    good = world.lead(user, ["yoga"], name="Siti Aminah")
    seq = world.sequence(user, niche="yoga", body="Hi {{ first_name }}")
    broken = world.sequence(user, niche="yoga", body="Hi {{ name | nosuchfilter }}")
    result = tick(NOW)
    assert world.value(
        "SELECT body FROM message_queue WHERE sequence_id = :s AND lead_id = :l", s=seq, l=good
    ) == "Hi Siti"
    log = world.sql("SELECT status, error FROM sequence_logs WHERE sequence_id = :s", s=broken)
    assert [r["status"] for r in log] == ["skipped"] and "nosuchfilter" in log[0]["error"]
    metadata = result.asset_materializations_for_node("sequence_messages")[0].metadata
    assert metadata["skipped_template_problem"].value == 1
    assert "nosuchfilter" in metadata["template_problems"].value


def test_leads_changed_or_added_after_a_scan_are_enrolled_on_a_later_tick(world, tick):
    user = world.user()
    world.device(user)
    seq = world.sequence(user, niche="yoga", target_status="customer")
    retagged = world.lead(user, ["cooking"], target_status="customer")
    promoted = world.lead(user, ["yoga"], target_status="prospect")
    tick(NOW)
    assert enrolled(world, seq) == set()
    world.sql("UPDATE leads SET niches = ARRAY['cooking', 'yoga'] WHERE id = :l", l=retagged)
    world.sql("UPDATE leads SET target_status = 'customer' WHERE id = :l", l=promoted)
    added = world.lead(user, ["yoga"], target_status="customer")
    tick(NOW.replace(minute=1))
    assert enrolled(world, seq) == {retagged, promoted, added}
    # a sequence whose niche changes gets a full scan of its user's leads
    cooking_only = world.lead(user, ["cooking"], target_status="customer")
    world.sql("UPDATE leads SET updated_at = now() - interval '1 day'")
    world.sql("UPDATE sequences SET niche = 'cooking' WHERE id = :s", s=seq)
    tick(NOW.replace(minute=2))
    assert cooking_only in enrolled(world, seq)
