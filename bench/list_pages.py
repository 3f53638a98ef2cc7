"""The leads page of a user with 1,000,000 leads (issue 17): a page of 50 with its total counted
up to paging.COUNT_CAP (pages_leads), first, deep, previous and filtered, against the API's page
without a total (leads_list) plus an exact count(*) of the same leads, the alternative.

Another user's 200,000 leads sit in the same table. Each figure is the median of REPEATS runs.
"""

import json
import os
import statistics
import time
from collections.abc import Callable

from harness import fresh_database
from sqlalchemy import text

from dripfleet import database  # noqa: E402
from dripfleet.stores import leads, pages, users  # noqa: E402
from webapp.pages import paging  # noqa: E402

ROWS = int(os.environ.get("BENCH_LIST_ROWS", "1000000"))
REPEATS = 15
GOAL_MS = 25.0
LIMIT = 51  # a page of 50 and one more to know that another follows
CAP = paging.COUNT_CAP + 1


def median_ms(run: Callable[[], object]) -> float:
    """Median wall time of `run` in milliseconds (one warm-up run first)."""
    run()
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return round(1000 * statistics.median(times), 2)


def main() -> None:
    """Fill the table, time each page, print the BENCH line."""
    with fresh_database("list_pages") as url:
        engine = database.get_engine(url)
        with engine.begin() as conn:
            user = users.create_user(conn, "bench@example.com", None)["id"]
            other = users.create_user(conn, "other@example.com", None)["id"]
            for owner, rows, prefix in ((user, ROWS, "+6012"), (other, ROWS // 5, "+6013")):
                conn.execute(text(
                    "INSERT INTO leads (user_id, phone, name, niches, target_status)"
                    " SELECT :u, :p || lpad(g::text, 8, '0'), 'Lead ' || g,"
                    " ARRAY[CASE WHEN g % 3 = 0 THEN 'fitness' ELSE 'yoga' END],"
                    " CASE WHEN g % 2 = 0 THEN 'prospect' ELSE 'customer' END"
                    " FROM generate_series(1, CAST(:n AS int)) g"), {"u": owner, "n": rows,
                                                                    "p": prefix})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE leads")  # the visibility map of a live table
        middle = ROWS // 2
        with engine.connect() as conn:
            first_id = conn.execute(text("SELECT min(id) FROM leads WHERE user_id = :u"),
                                    {"u": user}).scalar_one()

            def page(after: int | None = None, before: int | None = None,
                     **filters: str) -> Callable[[], object]:
                return lambda: pages.leads_page(conn, user, after, before, LIMIT, CAP,
                                                **filters)

            figures = {
                "first": median_ms(page()),
                "deep": median_ms(page(after=first_id + int(ROWS * 0.9))),
                "previous": median_ms(page(before=first_id + middle)),
                "niche": median_ms(page(niche="fitness")),
                "niche_status": median_ms(page(niche="fitness", target_status="prospect")),
                "rare_search": median_ms(page(search="Lead 99999")),
            }
            exact_count = median_ms(lambda: conn.execute(text(
                "SELECT count(*) FROM leads WHERE user_id = :u"), {"u": user}).scalar_one())
            exact_niche = median_ms(lambda: conn.execute(text(
                "SELECT count(*) FROM leads WHERE user_id = :u AND niches @> ARRAY['fitness']"),
                {"u": user}).scalar_one())
            api_page = median_ms(lambda: leads.list_leads(conn, user, LIMIT))
            total = pages.leads_page(conn, user, None, None, LIMIT, CAP)[1]
    everyday = {k: v for k, v in figures.items() if k != "rare_search"}
    value = max(everyday.values())
    baseline = round(api_page + exact_count, 2)
    line = {
        "value": value, "unit": "ms", "baseline": baseline,
        "ratio": round(value / baseline, 2),
        "goal": f"≤{GOAL_MS:g} ms a page view, every page and filter, {ROWS:,} leads",
        "ok": value <= GOAL_MS and total == CAP, **{f"{k}_ms": v for k, v in figures.items()},
        "exact_count_ms": exact_count, "exact_count_niche_ms": exact_niche,
        "page_without_total_ms": api_page, "rows": ROWS, "count_cap": paging.COUNT_CAP,
    }
    print("BENCH list_pages " + json.dumps(line, ensure_ascii=False))


if __name__ == "__main__":
    main()
