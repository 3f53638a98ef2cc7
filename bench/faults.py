"""Crash matrix figures: what each fault costs a running device host (see crash_drills.py).

Each drill runs a real `dripfleet device-host` on a PostgreSQL server of its own (240 messages on
4 simulated devices), applies one fault mid-run and measures messages lost, messages delivered
twice, sends in flight at the fault and seconds from the end of the fault to the next delivery.
The drills live in tests/device_host/crash_drills.py. There is no baseline: the goal is
absolute (nothing lost, duplicates only for what was in flight, the host still running).
"""

import json
import sys

from harness import ROOT

sys.path.insert(0, str(ROOT))

from tests.device_host.crash_drills import FAULTS, run_drill  # noqa: E402


def main() -> None:
    results = []
    for fault in FAULTS:
        result = run_drill(fault, outage_s=30.0)
        print(result.line(), flush=True)
        results.append(result)
    lost = sum(r.lost for r in results)
    ok = all(r.lost == 0 and r.duplicates <= r.in_flight_at_fault and r.host_running
             for r in results)
    line = {
        "value": lost, "unit": "messages lost", "baseline": None, "ratio": None,
        "goal": "0 lost; duplicates <= sends in flight at the fault; host running afterwards",
        "ok": ok,
        "faults": {r.fault: {"lost": r.lost, "duplicates": r.duplicates,
                             "in_flight": r.in_flight_at_fault, "recovery_s": r.recovery_s,
                             "host_running": r.host_running} for r in results},
    }
    print(f"BENCH faults {json.dumps(line)}")


if __name__ == "__main__":
    main()
