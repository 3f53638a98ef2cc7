"""P5: 1,000,000 generated lead rows through the CSV import's code path, beside a plain COPY.

Rows mix phone formats ("+60 12-345 6789", "012-345 6789", "60123456789"), 1 % are invalid,
niches are quoted lists; the import parses with pandas, normalises, stages with COPY and merges.
Baseline: COPY of the same bytes into a table of text columns (the floor for any import).
"""

import json
import os
import time

import numpy as np
import psycopg
from harness import fresh_database

from dripfleet import database  # noqa: E402
from dripfleet.csv_import import import_leads  # noqa: E402
from dripfleet.stores import users  # noqa: E402

ROWS = int(os.environ.get("BENCH_CSV_ROWS", "1000000"))
GOAL_S = 30.0


def generate(rows: int, seed: int = 5) -> bytes:
    """A lead CSV of `rows` rows with mixed phone formats and 1 % invalid phones."""
    rng = np.random.default_rng(seed)
    numbers = rng.permutation(8_000_000)[:rows] + 2_000_000
    prefixes = rng.choice(np.array(["12", "16", "17", "19"]), rows)
    local = np.char.add(prefixes, np.char.zfill(numbers.astype(str), 7))
    style = rng.random(rows)
    head, mid, tail = (np.char.add(p, "") for p in (
        np.array([s[:2] for s in local]), np.array([s[2:5] for s in local]),
        np.array([s[5:] for s in local])))
    e164 = np.char.add(np.char.add(np.char.add("+60 ", head), np.char.add("-", mid)),
                       np.char.add(" ", tail))
    national = np.char.add(np.char.add(np.char.add("0", head), np.char.add("-", mid)),
                           np.char.add(" ", tail))
    bare = np.char.add("60", local)
    phones = np.where(style < 0.45, e164, np.where(style < 0.85, national, bare))
    invalid = rng.random(rows) < 0.01
    phones = np.where(invalid, np.char.add("12", numbers.astype(str))[:rows].astype(object)
                      .astype(str).astype("<U12"), phones)
    phones = np.where(invalid, np.char.add("x", np.char.zfill(numbers.astype(str), 4)), phones)
    niches = rng.choice(np.array(['fitness', '"fitness,yoga"', '"Yoga; Pilates"', 'running',
                                  '"Fitness, Running"']), rows)
    status = rng.choice(np.array(["prospect", "customer", ""]), rows)
    cities = rng.choice(np.array(["Kuala Lumpur", "Penang", "Johor Bahru", ""]), rows)
    names = np.char.add("Lead ", numbers.astype(str))
    lines = ["name,phone,niche,target_status,city"]
    lines += [f"{n},{p},{t},{s},{c}" for n, p, t, s, c in zip(
        names.tolist(), phones.tolist(), niches.tolist(), status.tolist(), cities.tolist(),
        strict=True)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def baseline_copy(url: str, data: bytes) -> float:
    """Seconds to COPY the same bytes into a table of text columns."""
    with psycopg.connect(database.libpq_url(url)) as conn:
        conn.execute("CREATE TEMP TABLE raw_leads (name text, phone text, niche text, "
                     "target_status text, city text)")
        started = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy(
                "COPY raw_leads FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            view = memoryview(data)
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start:start + (1 << 20)])
        conn.commit()
        return time.perf_counter() - started


def main() -> None:
    """Run the benchmark and print the BENCH line."""
    data = generate(ROWS)
    with fresh_database("csv_import") as url:
        engine = database.get_engine(url)
        with engine.begin() as conn:
            user = users.create_user(conn, "bench@example.com", None)
        baseline = baseline_copy(url, data)
        started = time.perf_counter()
        with engine.begin() as conn:
            report = import_leads(conn, user["id"], data, region="MY")
        value = time.perf_counter() - started
        with engine.begin() as conn:
            stored = conn.exec_driver_sql("SELECT count(*) FROM leads").scalar_one()
    line = {
        "value": round(value, 2), "unit": "s", "baseline": round(baseline, 2),
        "ratio": round(value / baseline, 2), "goal": f"≤{GOAL_S:g} s for {ROWS:,} rows",
        "ok": value <= GOAL_S and stored == report.inserted, "rows": ROWS,
        "inserted": report.inserted, "rejected": report.rejected_count,
        "duplicates_merged": report.duplicates_merged, "rows_per_s": round(ROWS / value),
        "mb": round(len(data) / 1e6, 1),
    }
    print("BENCH csv_import " + json.dumps(line, ensure_ascii=False))


if __name__ == "__main__":
    main()
