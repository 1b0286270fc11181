"""Benchmark: the remote log cleanup against a bare boto3 list-and-delete loop, on moto's S3 server.

One command::

    uv run --frozen python bench/bench_remote_log_cleanup.py           # 10,000 and 100,000 objects, 3 rounds
    uv run --frozen python bench/bench_remote_log_cleanup.py --objects 20000 --small 2000 --rounds 1 --no-docs

Setup: moto's S3 server (``ThreadedMotoServer``, the same server as ``python -m moto.server``) runs in this
process. Each round fills one bucket per contender with the same objects in Airflow 3's remote log layout
(20 DAGs, runs of 20 tasks, 5 attempt logs + 5 trigger logs per task), half of them past the 30-day
retention. The objects are written straight into moto's in-memory backend with their last-modified times
set: the emulator stamps uploads with the current time, and uploading 300,000 objects over HTTP would take
longer than the whole benchmark. Everything measured goes through moto's HTTP API.

Contenders, each in a fresh interpreter under ``/usr/bin/time`` (wall, CPU = user + sys, peak RSS), the
order rotating every round:

* loop: boto3's ``list_objects_v2`` paginator, and ``delete_objects`` (``Quiet``) for every 1,000 keys whose
  ``LastModified`` is past the cutoff;
* ours: ``clean_remote_logs(url, RetentionPolicy(retention_days=30), store=S3Store(boto3 client))``, the
  engine as a plain Python caller uses it (no Airflow import);
* CLI: ``platform-kit logs clean s3://... --retention-days 30 --json`` from a plain shell with only
  ``AIRFLOW_CONN_AWS_DEFAULT`` set, as the README says (it imports Airflow for the connection).

After each round every bucket must hold exactly the same keys. Results go to stdout and, unless
``--no-docs``, to the "## Remote log cleanup" section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

# The same layout, retention, payload and measuring as the local log cleanup benchmark.
from bench_log_cleanup import DAGS, DAY, PAYLOAD, RETENTION_DAYS, TASK_FILES, TASKS_PER_RUN, measure

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

SECTION = "## Remote log cleanup"
PREFIX = "logs"
CONTENDERS = ("loop", "ours", "cli")

LOOP = """
import sys, time, boto3
endpoint, bucket, prefix, days = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
cutoff = time.time() - days * 86400
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
batch, deleted = [], 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
    for item in page.get("Contents", ()):
        if item["LastModified"].timestamp() < cutoff:
            batch.append({"Key": item["Key"]})
            if len(batch) == 1000:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
                deleted += len(batch)
                batch = []
if batch:
    s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    deleted += len(batch)
print(deleted)
"""

OURS = """
import json, sys, boto3
from platform_kit.logcleanup import RetentionPolicy
from platform_kit.logcleanup.remote import clean_remote_logs
from platform_kit.storage.s3 import S3Store
endpoint, bucket, prefix, days = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
report = clean_remote_logs(f"s3://{bucket}/{prefix}", RetentionPolicy(retention_days=days),
                           store=S3Store(client, bucket))
print(report.as_dict()["files_deleted"])
"""


class Moto:
    """moto's S3 server in this process, and direct access to its backend for filling buckets."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        from twin.pgcluster import free_port

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
        port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.server.start()
        self.url = f"http://127.0.0.1:{port}"
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        self.backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]

    def fill(self, bucket: str, objects: int, now: float) -> tuple[int, int]:
        """Create ``bucket`` with ``objects`` log objects; returns (objects, objects past retention)."""
        self.backend.create_bucket(bucket, "us-east-1")
        runs = max(1, objects // (TASKS_PER_RUN * len(TASK_FILES)))
        written = old = 0
        # Runs go round-robin over the DAGs; every other run is past retention (32-59 days old).
        for index in range(runs):
            dag, run = index % DAGS, index // DAGS
            age_days = 32 + run % 28 if index % 2 == 0 else run % 28 + 0.5
            stamp = datetime.fromtimestamp(now - age_days * DAY - dag * 60, UTC).replace(tzinfo=None)
            run_id = f"scheduled__{stamp:%Y-%m-%dT%H:%M:%S}+00:00_{run}"
            for task in range(TASKS_PER_RUN):
                folder = f"{PREFIX}/dag_id=bench_dag_{dag:03d}/run_id={run_id}/task_id=task_{task:02d}"
                for name in TASK_FILES:
                    key = self.backend.put_object(
                        bucket, f"{folder}/{name}", PAYLOAD, disable_notification=True
                    )
                    key.last_modified = stamp
                    written += 1
                    old += age_days > RETENTION_DAYS
        return written, old

    def keys(self, bucket: str) -> set[str]:
        return set(self.backend.get_bucket(bucket).keys.keys())

    def drop(self, bucket: str) -> None:
        self.backend.get_bucket(bucket).keys.clear()
        self.backend.delete_bucket(bucket)

    def stop(self) -> None:
        self.server.stop()


def run_contender(name: str, moto: Moto, bucket: str, home: Path) -> dict:
    args = [moto.url, bucket, PREFIX, str(RETENTION_DAYS)]
    if name == "loop":
        result = measure([sys.executable, "-c", LOOP, *args])
        result["deleted"] = int(result.pop("out").strip())
    elif name == "ours":
        result = measure([sys.executable, "-c", OURS, *args])
        result["deleted"] = int(result.pop("out").strip())
    else:
        connection = {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"region_name": "us-east-1", "endpoint_url": moto.url},
        }
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
        }
        command = [
            str(Path(sys.executable).parent / "platform-kit"),
            "logs",
            "clean",
            f"s3://{bucket}/{PREFIX}",
            "--retention-days",
            str(RETENTION_DAYS),
            "--json",
        ]
        result = measure(command, env=env)
        result["deleted"] = json.loads(result.pop("out"))["files_deleted"]
    return result


def compare(moto: Moto, objects: int, rounds: int, home: Path) -> dict:
    walls: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    cpus: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    rss = dict.fromkeys(CONTENDERS, 0)
    loads = []
    for round_index in range(rounds):
        now = time.time()
        buckets = {name: f"bench-{name}-{objects}-{round_index}" for name in CONTENDERS}
        started = time.perf_counter()
        for bucket in buckets.values():
            total, old = moto.fill(bucket, objects, now)
        print(
            f"[{objects}] round {round_index + 1}: filled 3 x {total} objects in "
            f"{time.perf_counter() - started:.0f}s",
            flush=True,
        )
        order = CONTENDERS[round_index % 3 :] + CONTENDERS[: round_index % 3]
        loads.append(os.getloadavg()[0])
        for name in order:
            result = run_contender(name, moto, buckets[name], home)
            if result["deleted"] != old:
                raise SystemExit(f"{name} deleted {result['deleted']} objects, expected {old}")
            walls[name].append(result["wall"])
            cpus[name].append(result["cpu"])
            rss[name] = max(rss[name], result["rss"])
            print(
                f"[{objects}] round {round_index + 1}: {name} {result['wall']:.1f}s wall, "
                f"{result['cpu']:.1f}s CPU, {result['rss'] / 2**20:.1f} MiB",
                flush=True,
            )
        remaining = {name: moto.keys(bucket) for name, bucket in buckets.items()}
        if not remaining["loop"] == remaining["ours"] == remaining["cli"]:
            raise SystemExit("the buckets differ after cleanup: the contenders did not do the same work")
        for bucket in buckets.values():
            moto.drop(bucket)
    ratios = [o / lp for o, lp in zip(walls["ours"], walls["loop"], strict=True)]
    cli_ratios = [c / lp for c, lp in zip(walls["cli"], walls["loop"], strict=True)]
    result = {
        "objects": total,
        "deleted": old,
        "rounds": rounds,
        "walls": walls,
        "cpus": cpus,
        "rss": rss,
        "median_wall": {name: statistics.median(values) for name, values in walls.items()},
        "median_cpu": {name: statistics.median(values) for name, values in cpus.items()},
        "median_ratio": statistics.median(ratios),
        "ratios": ratios,
        "median_cli_ratio": statistics.median(cli_ratios),
        "loads": loads,
    }
    print(f"[{objects}] {json.dumps(result)}", flush=True)
    return result


def render(results: list[dict], command: str) -> str:
    mib = 2**20
    lines = [
        SECTION,
        "",
        f"Command: `{command}`",
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} CPUs",
        f"shared with other jobs, Python {platform.python_version()}, moto server in the benchmark process).",
        "One bucket per contender and round on moto's S3 server, filled with the same objects in Airflow 3's",
        "remote log layout (20 DAGs, 20 tasks per run, 5 attempt + 5 trigger logs per task); half are past",
        "the 30-day retention. Loop: boto3 `list_objects_v2` paginator + `delete_objects` of 1,000 keys",
        "past the cutoff. Ours: `clean_remote_logs()` on an `S3Store` over a boto3 client, no Airflow",
        "import. CLI: `platform-kit logs clean s3://... --retention-days 30 --json` with only",
        "`AIRFLOW_CONN_AWS_DEFAULT` set (it imports Airflow for the connection). Each in a fresh",
        "interpreter, order rotated every round;",
        "after each round all buckets hold exactly the same keys (checked). Medians of the rounds; the",
        "ratio is the median of the per-round ours/loop ratios. CPU = user + sys of the client process (the",
        "server's work, which dominates, is the same for all).",
        "",
        "| objects | rounds | loop wall | ours wall | ours/loop | CLI wall | CLI/loop | loop CPU | ours CPU "
        "| CLI CPU | loop peak RSS | ours peak RSS | CLI peak RSS | deleted | load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        wall, cpu, rss = r["median_wall"], r["median_cpu"], r["rss"]
        loads = ", ".join(f"{load:.1f}" for load in r["loads"])
        lines.append(
            f"| {r['objects']:,} | {r['rounds']} | {wall['loop']:.1f} s | {wall['ours']:.1f} s | "
            f"{r['median_ratio']:.2f}x | {wall['cli']:.1f} s | {r['median_cli_ratio']:.2f}x | "
            f"{cpu['loop']:.2f} s | {cpu['ours']:.2f} s | {cpu['cli']:.2f} s | {rss['loop'] / mib:.1f} MiB | "
            f"{rss['ours'] / mib:.1f} MiB | {rss['cli'] / mib:.1f} MiB | {r['deleted']:,} | {loads} |"
        )
    lines += ["", *_verdict(results), ""]
    return "\n".join(lines)


def _verdict(results: list[dict]) -> list[str]:
    """The issue's goals in words: wall <= 1.1x the loop; peak RSS < 150 MiB and flat from 10k to 100k."""
    mib = 2**20
    large = max(results, key=lambda r: r["objects"])
    small = min(results, key=lambda r: r["objects"])
    per_round = ", ".join(f"{ratio:.2f}x" for ratio in large["ratios"])
    walls, cpus = large["median_wall"], large["median_cpu"]
    lines = [
        f"- Wall time at {large['objects']:,} objects: ours {large['median_ratio']:.2f}x the loop (rounds: "
        f"{per_round}; median walls {walls['ours'] / walls['loop']:.2f}x): "
        f"{'meets' if large['median_ratio'] <= 1.1 else 'misses'} the 1.1x goal. The CLI, Airflow's import "
        f"included: {large['median_cli_ratio']:.2f}x "
        f"({'meets' if large['median_cli_ratio'] <= 1.1 else 'misses'})."
        f" Single rounds swing with the shared host's load; the client's own CPU is steadier: ours "
        f"{cpus['ours'] / cpus['loop']:.2f}x the loop's, the CLI {cpus['cli'] / cpus['loop']:.2f}x."
    ]
    if large is not small:
        for name, label in (("ours", "Ours"), ("cli", "The CLI")):
            grew = large["rss"][name] / small["rss"][name]
            peak = large["rss"][name]
            verdict = "meets" if peak < 150 * mib and grew < 1.2 else "misses"
            if verdict == "meets" and peak >= 150e6:
                verdict = "meets in MiB but not in decimal MB"
            lines.append(
                f"- {label}: peak RSS {small['rss'][name] / mib:.1f} MiB at {small['objects']:,} objects and "
                f"{peak / mib:.1f} MiB ({peak / 1e6:.0f} MB) at {large['objects']:,} ({grew:.2f}x for 10x "
                f"the objects): {verdict} the < 150 MB, flat goal."
            )
    lines.append(
        "- The server dominates: moto's listing sorts the whole bucket for every page of 1,000, so each"
        " contender's wall time is mostly moto's, identical for all; the client CPU column shows what each"
        " contender costs itself. The CLI's extra CPU and RSS are Airflow's import (about 100 MiB) for the"
        " connection lookup and the provider's S3 client."
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000, help="objects in the large bucket (100,000)")
    parser.add_argument("--small", type=int, default=10_000, help="objects in the small bucket (RSS check)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per size, order rotated (default 3)")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    moto = Moto()
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-remote-logs-home-") as home:
            for objects in (n for n in (args.small, args.objects) if n):
                results.append(compare(moto, objects, args.rounds, Path(home)))
    finally:
        moto.stop()
    from benchdocs import command_line, publish

    text = render(results, command_line("bench_remote_log_cleanup.py", argv))
    publish(SECTION, text, write_docs=not args.no_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
