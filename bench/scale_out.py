"""P7: scale-out. Five device hosts over 3,000 simulated devices on one PostgreSQL.

One host starts alone and sends a burst (its dispatch rate: the baseline). Hosts 2 to 5 then join
one by one while messages go out; after each join every live host must lease within ±10 % of its
fair share. With five balanced hosts the same burst is sent again (the figure: the total dispatch
rate). Then one host is killed with SIGKILL, supervisor and workers at once, as when its machine
dies: its devices must send again from the others within one lease time of their leases running
out. Every message must be sent, and none twice (the messages the killed host had in flight are
counted apart: at-least-once allows those to go again).

Each host is a real `dripfleet device-host` (supervisor + workers) in its own process group; on
this 2-core machine five hosts (seven worker processes) fit. DEVICE_MOVES_PER_MINUTE is raised so
the four joins fit in a minute or two; the move budget itself is tested in
tests/device_host/test_fair_share.py.
"""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import psycopg
from harness import fresh_database

DEVICES = 3000
HOSTS = 5
BURST = 5  # messages per device in each measured burst
BACKGROUND = 40  # messages per device sent while the hosts join
KILL_LOAD = 15  # messages per device queued before the kill (the others keep sending)
DELAY = 0.5  # every device's min = max delay: the fleet could send 6,000/s, beyond the CPUs
HEALTH_S = 5.0
LEASE_S = 3 * HEALTH_S  # the workers' device lease (device_host/worker.py)
BALANCE = 0.10
SETTLED = 0.03  # the hosts' slack (device_host/fair_share.py share_slack) is 2 % of a share
HOST_ENV = {"HEALTH_CHECK_SECONDS": str(HEALTH_S), "DEVICE_MOVES_PER_MINUTE": "6000",
            "DEVICES_PER_WORKER": "1500", "DEVICE_HOST_MAX_WORKERS": "2",
            "WORKER_POOL_SIZE": "200", "SIM_LATENCY_SECONDS": "0.05", "SIM_READ_RATE": "0",
            "DEVICE_HOST_PORT": "0", "LOG_LEVEL": "WARNING"}


class Host:
    """One device-host process group."""

    def __init__(self, url: str) -> None:
        env = {**os.environ, **HOST_ENV, "DATABASE_URL": url}
        self.proc = subprocess.Popen([sys.executable, "-m", "dripfleet.cli", "device-host"],
                                     env=env, start_new_session=True)
        self.id: str | None = None

    def wait_registered(self, conn: psycopg.Connection) -> str:
        deadline = time.monotonic() + 60
        while self.id is None:
            row = conn.execute("SELECT id FROM device_hosts WHERE pid = %s AND stopped_at IS NULL",
                               (self.proc.pid,)).fetchone()
            if row:
                self.id = row[0]
            elif self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"host {self.proc.pid} did not start")
            else:
                time.sleep(0.2)
        return self.id

    def signal_all(self, sig: signal.Signals) -> None:
        os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.signal_all(signal.SIGKILL)
                self.proc.wait()


def wait_for(check, timeout: float, what: str, show=None) -> float:
    """Seconds until check() holds; exits the bench past timeout. show() is printed to stderr
    every 10 s meanwhile."""
    started = shown = time.monotonic()
    while not check():
        now = time.monotonic()
        if now - started > timeout:
            raise SystemExit(f"scale_out: timed out after {timeout:.0f}s waiting for {what}"
                             + (f" ({show()})" if show else ""))
        if show and now - shown >= 10:
            print(f"  waiting {now - started:.0f}s for {what}: {show()}", file=sys.stderr)
            shown = now
        time.sleep(0.2)
    return time.monotonic() - started


def held(conn: psycopg.Connection) -> dict[str, int]:
    return dict(conn.execute(
        "SELECT split_part(lease_owner, '/', 1), count(*) FROM devices"
        " WHERE lease_until > now() GROUP BY 1").fetchall())


def within(conn: psycopg.Connection, host_ids: list[str], limit: float) -> bool:
    worst = imbalance(conn, host_ids)
    return worst is not None and worst <= limit


def imbalance(conn: psycopg.Connection, host_ids: list[str]) -> float | None:
    """Largest distance of a host's leases from the fair share, as a share of it; None while
    some device is not leased or a host that should not hold devices holds some."""
    counts = held(conn)
    if set(counts) != set(host_ids) or sum(counts.values()) != DEVICES:
        return None
    fair = DEVICES / len(host_ids)
    return max(abs(n - fair) / fair for n in counts.values())


def queue(conn: psycopg.Connection, user: int, per_device: int, tag: str) -> None:
    conn.execute(
        "INSERT INTO message_queue (user_id, device_id, phone, body, source, dedupe_key)"
        " SELECT %s, d.id, '+6012' || lpad((d.id * 100 + g)::text, 8, '0'), 'hi ' || g, 'api',"
        "        %s || ':' || d.id || ':' || g"
        " FROM devices d, generate_series(1, %s) g ORDER BY g, d.id", (user, tag, per_device))


def left(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM message_queue"
                        " WHERE status IN ('queued', 'sending')").fetchone()[0]


def burst_rate(conn: psycopg.Connection, user: int, tag: str) -> float:
    """Queue BURST messages per device, wait until they are out; messages per second from the
    first to the last send of the burst. Both bursts start from a vacuumed queue: this machine's
    PostgreSQL runs with autovacuum off (its CI configuration), and without a vacuum the second
    burst would run over the dead row versions of the ~140,000 sends before it, which
    autovacuum keeps away in production; the ratio would then measure that, not the hosts."""
    conn.execute("VACUUM message_queue, devices")
    queue(conn, user, BURST, tag)
    wait_for(lambda: left(conn) == 0, 600, f"burst {tag}")
    sent, first, last = conn.execute(
        "SELECT count(*), min(sent_at), max(sent_at) FROM message_queue"
        " WHERE dedupe_key LIKE %s AND status = 'sent'", (tag + ":%",)).fetchone()
    return sent / max((last - first).total_seconds(), 1e-6)


def main() -> None:
    hosts: list[Host] = []
    with fresh_database("scale_out") as url, psycopg.connect(url, autocommit=True) as conn:
        user = conn.execute("INSERT INTO users (email) VALUES ('b@example.com')"
                            " RETURNING id").fetchone()[0]
        conn.execute(
            "INSERT INTO devices (user_id, name, status, min_delay_s, max_delay_s, jid)"
            " SELECT %s, 'd' || g, 'online', %s, %s, 'j' || g FROM generate_series(1, %s) g",
            (user, DELAY, DELAY, DEVICES))
        try:
            hosts.append(Host(url))
            ids = [hosts[0].wait_registered(conn)]
            wait_for(lambda: held(conn).get(ids[0]) == DEVICES, 120, "the first host's leases")
            # one message per device first: every session is up before anything is timed
            queue(conn, user, 1, "warm")
            wait_for(lambda: left(conn) == 0, 120, "the warm-up")
            one_host = burst_rate(conn, user, "one")
            print(f"one host: {one_host:.0f} msg/s", file=sys.stderr)

            queue(conn, user, BACKGROUND, "joins")
            join_s, settle_s, balance = [], [], []
            for _ in range(HOSTS - 1):
                hosts.append(Host(url))
                ids.append(hosts[-1].wait_registered(conn))
                show = lambda: sorted(held(conn).values())  # noqa: E731
                join_s.append(round(wait_for(lambda: within(conn, ids, BALANCE), 300,
                                             f"balance over {len(ids)} hosts", show), 1))
                # then the last moves: every host at its share, give or take the slack
                settle_s.append(round(join_s[-1] + wait_for(
                    lambda: within(conn, ids, SETTLED), 300, f"{len(ids)} hosts settling",
                    show), 1))
                balance.append(round(imbalance(conn, ids) or 0.0, 3))
                print(f"{len(ids)} hosts: within ±10 % in {join_s[-1]}s, settled in"
                      f" {settle_s[-1]}s: {show()}", file=sys.stderr)
            backlog_at_last_join = left(conn)
            wait_for(lambda: left(conn) == 0, 600, "the messages sent during the joins")
            all_hosts = burst_rate(conn, user, "all")
            print(f"{HOSTS} hosts: {all_hosts:.0f} msg/s", file=sys.stderr)

            queue(conn, user, KILL_LOAD, "kill")
            time.sleep(3)
            victim = hosts[2]
            victim.signal_all(signal.SIGSTOP)  # frozen: what it holds cannot change now
            orphans = [r[0] for r in conn.execute(
                "SELECT id FROM devices WHERE split_part(lease_owner, '/', 1) = %s",
                (victim.id,))]
            in_flight = {r[0] for r in conn.execute(
                "SELECT id FROM message_queue WHERE status = 'sending'"
                " AND split_part(lease_owner, '/', 1) = %s", (victim.id,))}
            killed_at, leases_end = conn.execute(
                "SELECT now(), max(lease_until) FROM devices WHERE id = ANY(%s)",
                (orphans,)).fetchone()
            victim.signal_all(signal.SIGKILL)
            victim.proc.wait()
            survivors = [h.id for h in hosts if h is not victim]

            def resumed() -> datetime | None:
                row = conn.execute(
                    "SELECT count(*), max(first) FROM (SELECT device_id, min(started_at) AS first"
                    " FROM sim_deliveries WHERE device_id = ANY(%s) AND started_at > %s"
                    " GROUP BY device_id) f", (orphans, killed_at)).fetchone()
                return row[1] if row[0] == len(orphans) else None

            def orphans_now() -> str:
                return str(conn.execute(
                    "SELECT split_part(lease_owner, '/', 1) = %s AS dead_owner,"
                    " lease_until > now() AS leased, count(*),"
                    " count(*) FILTER (WHERE EXISTS (SELECT 1 FROM message_queue q"
                    "  WHERE q.device_id = d.id AND q.status = 'queued')) AS with_work,"
                    " count(*) FILTER (WHERE EXISTS (SELECT 1 FROM sim_deliveries s"
                    "  WHERE s.device_id = d.id AND s.started_at > %s)) AS resumed"
                    " FROM devices d WHERE id = ANY(%s) GROUP BY 1, 2",
                    (victim.id, killed_at, orphans)).fetchall())

            wait_for(lambda: resumed() is not None, 120, "the killed host's devices",
                     orphans_now)
            last_resumed = resumed()
            assert last_resumed is not None
            wait_for(lambda: within(conn, survivors, BALANCE), 120, "balance after the kill")
            balance_after_kill = round(imbalance(conn, survivors) or 0.0, 3)
            wait_for(lambda: left(conn) == 0, 600, "the last messages")
        finally:
            for host in hosts:
                host.stop()
        total, sent = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'sent') FROM message_queue"
        ).fetchone()
        repeated = {r[0] for r in conn.execute(
            "SELECT message_id FROM sim_deliveries GROUP BY message_id HAVING count(*) > 1")}
        # what a duplicate outside the killed host's sends looks like, to find its cause: its
        # device, its attempts (a rescue and a second claim make 2), and when each copy left
        for row in conn.execute(
                "SELECT q.id, q.device_id, q.attempts, array_agg(to_char(s.started_at,"
                " 'HH24:MI:SS.MS') ORDER BY s.id) FROM message_queue q"
                " JOIN sim_deliveries s ON s.message_id = q.id WHERE q.id = ANY(%s)"
                " GROUP BY q.id ORDER BY q.id LIMIT 10", (sorted(repeated - in_flight),)):
            print(f"  sent twice: message {row[0]} device {row[1]} attempts {row[2]} at {row[3]}"
                  f" (killed at {killed_at:%H:%M:%S.%f})", file=sys.stderr)
    duplicates = len(repeated - in_flight)
    lease_left = (leases_end - killed_at).total_seconds()
    resumed_s = (last_resumed - killed_at).total_seconds()
    # from the moment the killed host's leases ran out to its last device sending again
    takeover = resumed_s - max(lease_left, 0.0)
    ratio = all_hosts / one_host
    ok = (max(balance) <= BALANCE and balance_after_kill <= BALANCE and duplicates == 0
          and sent == total and takeover <= LEASE_S and ratio >= 0.8)
    result = {
        "value": round(all_hosts, 1), "unit": "msg/s", "baseline": round(one_host, 1),
        "ratio": round(ratio, 2),
        "goal": "each join balanced within ±10 %, 0 duplicates, 0 lost, the killed host's "
                "devices sending again within one lease of their leases running out, "
                f"{HOSTS} hosts' rate ≥ 0.8 × one host's (2 cores: no room to grow)",
        "ok": ok, "hosts": HOSTS, "devices": DEVICES, "join_s": join_s, "settled_s": settle_s,
        "imbalance_after_joins": balance, "imbalance_after_kill": balance_after_kill,
        "backlog_at_last_join": backlog_at_last_join,
        "messages": total, "sent": sent, "duplicates": duplicates,
        "in_flight_at_kill": len(in_flight), "in_flight_sent_again": len(repeated & in_flight),
        "killed_host_devices": len(orphans), "lease_s": LEASE_S,
        "lease_left_at_kill_s": round(lease_left, 2),
        "all_sending_again_after_kill_s": round(resumed_s, 2),
        "takeover_after_lease_end_s": round(takeover, 2), "host": HOST_ENV,
    }
    print("BENCH scale_out " + json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
