"""One API budget for the whole team, under load: agents browse while an export and a bulk update run.

"Voucherify" is a sandbox product whose rate limit is 300 calls a minute over a real 60-second window
(``SANDBOX_RATE_LIMIT_PER_MINUTE=300``, ``SANDBOX_LATENCY_MS=100``); the dashboard (real-Voucherify
mode, with its background worker) reaches it over HTTP and learns the limit from its headers, as a
deployment does. Six support agents browse list pages, customers and their tabs, a page every couple
of seconds, for ``BENCH_BUDGET_SECONDS`` (60) while a marketer's full export (every column) and a
bulk update of the 500 newest customers (a metadata key) run. Reported: the agents' errors (a 429 page
counts as one; the target is none) and 95th percentile, each job's time from start to done and the
calls it spent (the job page's ``data-calls-spent``), and whether Voucherify ever answered 429 (the
dashboard's and its worker's logs hold a line `` -> 429 `` for every such answer).

Run alone with ``python -m tests.bench_budget``.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from tests.bench import API_HEADERS, Row, print_table
from tests.bench_overhead import PASSWORD, two_servers
from tests.conftest import csrf_post, signed_in

LIMIT = 300
AGENTS = 6
CUSTOMERS = 2000
BULK_CUSTOMERS = 500
EXPORT_COLUMNS = [
    "Id", "Source_id", "Name", "Email", "Phone", "Birthdate", "Description", "Address_line_1", "Address_line_2",
    "Address_Postal_Code", "Address_City", "Address_State", "Address_Country", "Metadata", "Created_at", "Updated_at",
]  # fmt: skip
THINK_SECONDS = (1.5, 3.5)  # between an agent's pages: reading what the last one showed
JOB_TIMEOUT = 600


def _start_job(session: requests.Session, base: str, form_url: str, post_url: str, data: dict) -> str:
    answer = csrf_post(session, post_url, form_url, data, allow_redirects=False)
    location = answer.headers.get("Location", "")
    if answer.status_code != 302 or "/jobs/run/" not in location:
        raise RuntimeError(f"the job did not start ({answer.status_code}): {answer.text[:500]}")
    return base + location


def _job_state(session: requests.Session, url: str) -> tuple[str, int]:
    page = session.get(url, timeout=30).text
    status = re.search(r'data-status="([a-z_]+)"', page).group(1)
    return status, int(re.search(r'data-calls-spent="(\d+)"', page).group(1))


def budget_scenario(seconds: float) -> dict:
    with (
        tempfile.TemporaryDirectory(prefix="bench-budget-") as tmp,
        two_servers(
            Path(tmp),
            customers=CUSTOMERS,
            upstream={"SANDBOX_RATE_LIMIT_PER_MINUTE": str(LIMIT)},
            task_worker=True,
        ) as (voucherify, product),
    ):
        base, api_url = product.url, voucherify.url + "/sandbox"
        api = requests.Session()
        api.headers.update(API_HEADERS)
        newest = api.get(api_url + "/v1/customers", params={"limit": 100}, timeout=30).json()["customers"]
        ids = [c["id"] for c in newest]
        cities = sorted({c["address"]["city"] for c in newest if (c.get("address") or {}).get("city")})
        # Strictly after the 501st newest customer's creation: the 500 newest.
        page_6 = api.get(api_url + "/v1/customers", params={"limit": 100, "page": 6}, timeout=30).json()
        bulk_after = page_6["customers"][0]["created_at"]

        marketer = signed_in(base, "marketer", PASSWORD)
        agents = [signed_in(base, "support", PASSWORD) for _ in range(AGENTS)]
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()

        def browse(number: int) -> None:
            rng, session = random.Random(number), agents[number]
            while not stop.is_set():
                customer = rng.choice(ids)
                visit = [
                    ("/customers/", {"city": rng.choice(cities)}, {}),
                    ("/customers/", {"page": rng.randint(1, 20), "limit": rng.choice([10, 25, 50, 100])},
                     {"HX-Request": "true"}),
                    (f"/customers/{customer}/", {}, {}),
                    (f"/customers/{customer}/{rng.choice(['activity', 'redeemables', 'segments'])}/", {},
                     {"HX-Request": "true"}),
                ]  # fmt: skip
                for path, params, headers in visit:
                    if stop.is_set():
                        return
                    started = time.perf_counter()
                    try:
                        response = session.get(base + path, params=params, headers=headers, timeout=30)
                        failed = None if response.status_code == 200 else f"{response.status_code} {path}"
                    except requests.RequestException as exc:
                        failed = f"{type(exc).__name__} {path}"
                    with lock:
                        latencies.append(time.perf_counter() - started)
                        if failed:
                            errors.append(failed)
                    stop.wait(rng.uniform(*THINK_SECONDS))

        threads = [threading.Thread(target=browse, args=(n,)) for n in range(AGENTS)]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        jobs, job_started = {}, {}
        job_started["export"] = time.monotonic()
        jobs["export"] = _start_job(marketer, base, base + "/customers/export/", base + "/customers/export/",
                                    {"columns": EXPORT_COLUMNS})  # fmt: skip
        job_started["bulk"] = time.monotonic()
        bulk_form = (f"{base}/customers/bulk/?scope=all&created_at_after={bulk_after}&preview=1"
                     "&set-meta_key_0=bench&set-meta_value_0=budget")  # fmt: skip
        jobs["bulk"] = _start_job(marketer, base, bulk_form, base + "/customers/bulk/",
                                  {"scope": "all", "created_at_after": bulk_after, "set-meta_key_0": "bench",
                                   "set-meta_value_0": "budget"})  # fmt: skip
        done: dict[str, tuple[str, float, int]] = {}
        try:
            while True:
                for name, url in jobs.items():
                    if name not in done:
                        status, spent = _job_state(marketer, url)
                        if status in ("succeeded", "failed", "cancelled"):
                            done[name] = (status, time.monotonic() - job_started[name], spent)
                elapsed = time.monotonic() - started
                if elapsed >= seconds:
                    stop.set()  # the agents' time is up; the jobs may still be running
                if (len(done) == len(jobs) and elapsed >= seconds) or elapsed >= max(seconds, JOB_TIMEOUT):
                    break
                time.sleep(1)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        for name, url in jobs.items():
            if name not in done:
                status, spent = _job_state(marketer, url)
                done[name] = (status, time.monotonic() - job_started[name], spent)
        logs = "".join(
            path.read_text(errors="replace")
            for path in (product.log_path, product.log_path.with_suffix(".worker.log"))
            if path.exists()
        )
    return {
        "seconds": seconds,
        "pages": len(latencies),
        "errors": errors,
        "p95": statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 20 else max(latencies, default=0),
        "median": statistics.median(latencies) if latencies else 0,
        "jobs": done,
        "upstream_429s": logs.count(" -> 429 "),
    }


def budget_benchmarks(seconds: float | None = None) -> list[Row]:
    seconds = seconds if seconds is not None else float(os.environ.get("BENCH_BUDGET_SECONDS", "60"))
    result = budget_scenario(seconds)
    errors = result["errors"]
    if errors:
        print(f"Budget scenario errors (first 5 of {len(errors)}):", *errors[:5], sep="\n  ")
    label = f"Budget at {LIMIT}/min: {AGENTS} agents × {seconds:.0f} s beside an export and a bulk update"
    rows = [
        Row(f"{label}, pages", f"{result['pages']:,}", "", None),
        Row("Budget: agents' errors (a 429 page counts)", str(len(errors)), "0", not errors),
        Row("Budget: agents' median / 95th percentile",
            f"{result['median'] * 1000:.0f} / {result['p95'] * 1000:.0f} ms", "", None),
    ]  # fmt: skip
    for name, what in (("export", f"full export, {CUSTOMERS:,} customers"),
                       ("bulk", f"bulk update, {BULK_CUSTOMERS} customers")):  # fmt: skip
        status, took, spent = result["jobs"][name]
        rows.append(Row(f"Budget: {what}: time / calls spent", f"{took:.0f} s / {spent} calls", "succeeded",
                        status == "succeeded"))  # fmt: skip
    rows.append(Row("Budget: 429 answers from Voucherify (dashboard and worker logs)", str(result["upstream_429s"]),
                    "0", result["upstream_429s"] == 0))  # fmt: skip
    return rows


if __name__ == "__main__":
    print_table(budget_benchmarks())
