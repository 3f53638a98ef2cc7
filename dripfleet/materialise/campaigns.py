"""Campaign audiences into message_queue: paged by lead id, one locked transaction per page.

A campaign whose scheduled_at has come becomes `running`; each page of its audience (after
audience_cursor) is rendered, given devices and inserted with a broadcast_jobs row. The cursor only
moves past leads that were queued (or skipped for a template problem), so what does not fit in the
device buffers waits for a later tick. When the audience is exhausted and every message has an
outcome the campaign is `completed`.
"""

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from dripfleet.materialise import staging
from dripfleet.materialise.device_choice import load_chooser
from dripfleet.materialise.rendering import render_or_problem
from dripfleet.queries import queries

queries.require(
    "due_campaign_ids", "lock_campaign", "start_campaign", "campaign_audience_page",
    "insert_staged_campaign_messages", "advance_campaign", "campaign_open_messages",
    "complete_campaign",
)

PAGE_SIZE = 10_000
MAX_PAGES_PER_CAMPAIGN = 50


@dataclass
class CampaignProgress:
    """One campaign's tick: rows queued, skipped, whether it completed, and why it waits."""

    campaign_id: int
    queued: int = 0
    skipped: int = 0
    pages: int = 0
    started: bool = False
    completed: bool = False
    exhausted: bool = False
    error: str | None = None


@dataclass
class CampaignTick:
    """What one tick did to campaigns."""

    campaigns: list[CampaignProgress] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def queued(self) -> int:
        """Messages queued for all campaigns."""
        return sum(c.queued for c in self.campaigns)


def materialise_campaign_messages(
    engine: Engine, now: datetime, buffer_size: int, run_id: str | None = None,
    page_size: int = PAGE_SIZE,
) -> CampaignTick:
    """Queue the next audience pages of every due campaign (as of `now`) that fit the buffers."""
    started = time.perf_counter()
    tick = CampaignTick()
    with engine.connect() as conn:
        ids = conn.execute(queries.text("due_campaign_ids"), {"now": now}).scalars().all()
    for campaign_id in ids:
        progress = CampaignProgress(campaign_id)
        for _ in range(MAX_PAGES_PER_CAMPAIGN):
            more = _page(engine, campaign_id, now, buffer_size, run_id, page_size, progress, tick)
            if not more:
                break
        if progress.pages or progress.started or progress.completed or progress.error:
            tick.campaigns.append(progress)
    tick.seconds = time.perf_counter() - started
    return tick


def _page(
    engine: Engine, campaign_id: int, now: datetime, buffer_size: int, run_id: str | None,
    page_size: int, progress: CampaignProgress, tick: CampaignTick,
) -> bool:
    """Materialise one page; True when another page may follow in this tick."""
    with engine.begin() as conn:
        staging.lock_batches(conn)
        staging.begin_batch(conn)
        campaign = conn.execute(
            queries.text("lock_campaign"), {"campaign_id": campaign_id, "now": now}
        ).mappings().first()
        if campaign is None:  # paused, cancelled, or another tick holds it
            return False
        if campaign["status"] == "scheduled":
            conn.execute(queries.text("start_campaign"), {"campaign_id": campaign_id, "now": now})
            progress.started = True
        chooser = load_chooser(conn, [campaign["user_id"]], buffer_size)
        capacity = chooser.free_capacity(campaign["user_id"])
        leads = conn.execute(
            queries.text("campaign_audience_page"),
            {"user_id": campaign["user_id"], "cursor": campaign["audience_cursor"],
             "niche": campaign["niche"], "target_status": campaign["target_status"],
             "limit": max(min(page_size, capacity), 1)},
        ).all()
        if not leads:
            progress.exhausted = True
            _complete_if_done(conn, campaign_id, now, progress)
            return False
        staged, cursor, error, waited = _assign(campaign, leads, chooser, progress, tick)
        if staged:
            jobs = staging.create_broadcast_jobs(
                conn, "campaign", [(campaign["user_id"], None, campaign_id)], run_id, now
            )
            job_id = next(iter(jobs.values()))
            for values in staged:
                values[14] = job_id
            staging.copy_to_stage(conn, staged)
            inserted = sum(
                int(r.inserted)
                for r in conn.execute(queries.text("insert_staged_campaign_messages"))
            )
            staging.set_broadcast_job_totals(conn, {job_id: inserted})
            progress.queued += inserted
            progress.pages += 1
        progress.error = error
        conn.execute(
            queries.text("advance_campaign"),
            {"campaign_id": campaign_id, "cursor": cursor, "last_error": error},
        )
        # another page only if this one was full and nothing had to wait
        return not waited and len(leads) == max(min(page_size, capacity), 1)


def _assign(
    campaign: Any, leads: list, chooser: Any, progress: CampaignProgress, tick: CampaignTick
) -> tuple[list[list], int, str | None, bool]:
    """Stage rows in lead order up to the first that must wait: rows, cursor, error, waited."""
    staged: list[list] = []
    cursor = campaign["audience_cursor"]
    error = None
    campaign_id = campaign["id"]
    for lead in leads:
        dedupe_key = f"camp:{campaign_id}:{lead.lead_id}"
        body, problem = render_or_problem(
            campaign["body"], lead.name, lead.phone, lead.attributes, dedupe_key
        )
        caption = campaign["caption"]
        if problem is None:
            caption, problem = render_or_problem(
                caption, lead.name, lead.phone, lead.attributes, dedupe_key
            )
        if problem is not None:  # skipped for good: the cursor moves past it
            progress.skipped += 1
            error = f"lead {lead.lead_id} skipped: {problem}"
            if len(tick.problems) < 20:
                tick.problems.append(f"campaign {campaign_id} {error}")
            cursor = lead.lead_id
            continue
        choice = chooser.choose(
            campaign["user_id"], lead.preferred_device_id, campaign["source_device_id"]
        )
        if choice.device_id is None:
            return staged, cursor, choice.reason, True
        staged.append([
            campaign["user_id"], choice.device_id, lead.lead_id, lead.phone,
            campaign["message_type"], body or "", campaign["media_url"], campaign["media_id"],
            caption, campaign["filename"], campaign_id, None, None, None, None, choice.pinned,
            dedupe_key, None, None, None, None,
        ])  # fmt: skip
        cursor = lead.lead_id
    return staged, cursor, error, False


def _complete_if_done(
    conn: Connection, campaign_id: int, now: datetime, progress: CampaignProgress
) -> None:
    open_messages = conn.execute(
        queries.text("campaign_open_messages"), {"campaign_id": campaign_id}
    ).scalar_one()
    if open_messages == 0:
        conn.execute(queries.text("complete_campaign"), {"campaign_id": campaign_id, "now": now})
        progress.completed = True
