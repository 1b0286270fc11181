"""Benchmark: variable/connection export in every mode, and import, against the ``airflow`` CLI.

One command (from the repo root)::

    uv run --frozen python bench/bench_export.py          # 10,000 variables + 1,000 connections
    uv run --frozen python bench/bench_export.py --variables 2000 --connections 200 --sdk-variables 500 \\
        --sdk-connections 50                              # quick run
    uv run --frozen python bench/bench_export.py --import-only DIR   # step 3 alone, on decrypted files

It starts the Docker-free twin (real api-server, scheduler, dag-processor, LocalExecutor, PostgreSQL
metadata DB with a Fernet key, moto S3), stores the entries through Airflow's models (encrypted with the
twin's Fernet key) and, in the same run and against the same metadata DB, measures:

1. at the sdk scale (``--sdk-variables``/``--sdk-connections``, smaller by default because the sdk mode
   takes ~30 minutes at 10k/1k on a shared 2-CPU machine): the baseline ``airflow variables export`` +
   ``airflow connections export``, then ``platform_kit_export`` runs in ``sdk`` and ``db`` mode;
2. at full scale (the rows of step 1 plus the rest): the baseline again, ``platform_kit_export`` in
   ``db`` mode, and ``platform-kit export create`` from a shell (``--sdk-full`` adds the sdk mode);
3. import of the full-scale export into two fresh, migrated Airflow metadata DBs: ``platform-kit export
   import DIR`` against ``airflow variables import`` + ``airflow connections import``.

DAG runs are timed as the export task's duration in Airflow (start to end). The baseline is what an
operator would run on a host that may use the DB: plaintext files, no upload. Results are printed and
written to ``docs/benchmarks.md`` under ``## Export``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests"))

SECTION = "## Export"
DAG_ID = "platform_kit_export"
BUCKET = "platform-kit-backups"
BIN = Path(sys.executable).parent
#: The issue's targets for the db mode at full scale.
TARGET_RATIO = 0.1
TARGET_SECONDS = 60.0


def _seed(twin, n_variables: int, n_connections: int, *, already: dict | None = None) -> dict:
    """Store ``n_variables``/``n_connections`` through Airflow's models (Fernet-encrypted with the twin's
    key), adding to what ``already`` holds; the REST bulk endpoints time out at this scale (the api-server
    masks every value it is sent)."""
    from export_airflow import AirflowDB, Content, make_content  # tests/ helpers: the e2e test's content

    content = make_content(n_variables - 8, n_connections, big_values=0)
    done = already or {"variables": set(), "connections": set()}
    new = Content(
        variables={k: v for k, v in content.variables.items() if k not in done["variables"]},
        connections={k: c for k, c in content.connections.items() if k not in done["connections"]},
    )
    started = time.monotonic()
    AirflowDB(twin.metadb_dsn, fernet_key=twin.airflow_env["AIRFLOW__CORE__FERNET_KEY"]).load(new)
    print(
        f"  seeded {n_variables} variables, {n_connections} connections in {time.monotonic() - started:.0f}s"
    )
    return {"variables": set(content.variables), "connections": set(content.connections)}


def _task_seconds(twin, run_id: str) -> float:
    (ti,) = [t for t in twin.task_instances(DAG_ID, run_id) if t["task_id"] == "export"]
    return (datetime.fromisoformat(ti["end_date"]) - datetime.fromisoformat(ti["start_date"])).total_seconds()


def _run_dag(twin, mode: str) -> dict:
    conf = {"destination": f"s3://{BUCKET}/bench-export-{mode}-{uuid.uuid4().hex[:6]}", "mode": mode}
    run_id = twin.trigger(DAG_ID, conf=conf)
    run = twin.wait_for_run(DAG_ID, run_id, timeout=4 * 3600)
    if run["state"] != "success":
        raise SystemExit(
            f"{mode} export {run_id} {run['state']}: {twin.task_log(DAG_ID, run_id, 'export')[-2000:]}"
        )
    summary = twin.xcom(DAG_ID, run_id, "export")
    seconds = _task_seconds(twin, run_id)
    counts = f"{summary['variables']} variables, {summary['connections']} connections"
    print(f"  {mode} mode: task {seconds:.1f}s ({counts})")
    return {"seconds": seconds, "summary": summary}


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return seconds, proc


def _cli_baseline(twin) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        variables, _ = _timed(
            [str(BIN / "airflow"), "variables", "export", f"{scratch}/v.json"], twin.airflow_env
        )
        connections, _ = _timed(
            [str(BIN / "airflow"), "connections", "export", f"{scratch}/c.json"], twin.airflow_env
        )
        counts = {
            "variables": len(json.loads(Path(f"{scratch}/v.json").read_text())),
            "connections": len(json.loads(Path(f"{scratch}/c.json").read_text())),
        }
    print(f"  airflow CLI export: {variables + connections:.1f}s {counts}")
    return {"seconds": variables + connections, "split": [variables, connections], "counts": counts}


def _plain_shell(twin, home: Path) -> dict[str, str]:
    """What the README tells an operator to set for ``platform-kit export create``."""
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    for name in (
        "AIRFLOW_CONN_AIRFLOW_METADB",
        "AIRFLOW_CONN_PLATFORM_KIT_EXPORT_KEY",
        "AIRFLOW_CONN_AWS_DEFAULT",
        "AIRFLOW__CORE__FERNET_KEY",
    ):
        env[name] = twin.airflow_env[name]
    return env


def _shell_export(twin, home: Path) -> dict:
    url = f"s3://{BUCKET}/bench-export-shell-{uuid.uuid4().hex[:6]}"
    seconds, proc = _timed(
        [str(BIN / "platform-kit"), "export", "create", "--to", url, "--json"], _plain_shell(twin, home)
    )
    summary = json.loads(proc.stdout)
    print(f"  platform-kit export create: {seconds:.1f}s")
    return {"seconds": seconds, "summary": summary}


def _decrypt(twin, artifact_url: str, home: Path) -> Path:
    """The export as import-ready files (``platform-kit export decrypt``), in ``home/restore``."""
    out = home / "restore"
    _timed(
        [
            str(BIN / "platform-kit"),
            "export",
            "decrypt",
            artifact_url,
            "--key-conn",
            "platform_kit_export_key",
            "--out",
            str(out),
        ],
        _plain_shell(twin, home),
    )
    return out


def _imports(superuser_dsn: str, out: Path) -> dict:
    """Import ``out`` (decrypted export files) into fresh Airflow DBs of the cluster of
    ``superuser_dsn``: platform-kit export import vs the airflow CLI."""
    from export_airflow import AirflowDB, create_database, drop_database

    path = f"{BIN}:/usr/bin:/bin"
    template = f"pk_bench_import_{uuid.uuid4().hex[:6]}"
    names = [template]
    try:
        AirflowDB(create_database(superuser_dsn, template)).migrate()
        results = {}
        for what in ("ours", "baseline"):
            name = f"{template}_{what}"
            names.append(name)
            target = AirflowDB(create_database(superuser_dsn, name, template=template))
            target_env = {**target.env, "PATH": path, "PYTHONUNBUFFERED": "1"}
            if what == "ours":
                seconds, _ = _timed(
                    [str(BIN / "platform-kit"), "export", "import", str(out), "--on-existing", "fail"],
                    target_env,
                )
                split = [seconds]
            else:
                variables, _ = _timed(
                    [str(BIN / "airflow"), "variables", "import", str(out / "variables.json")], target_env
                )
                connections, _ = _timed(
                    [str(BIN / "airflow"), "connections", "import", str(out / "connections.json")], target_env
                )
                seconds, split = variables + connections, [variables, connections]
            results[what] = {"seconds": seconds, "split": split, "counts": _row_counts(target.dsn)}
            print(f"  import ({what}): {seconds:.1f}s {results[what]['counts']}", flush=True)
        return results
    finally:
        for name in names:
            drop_database(superuser_dsn, name)


def _row_counts(dsn: str) -> dict[str, int]:
    """Rows per table, counted in SQL: loading 11,000 ORM rows to count them registers every value with
    the masker, which took ~12 minutes at 10,000/1,000 (the quadratic cost this benchmark measures)."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        return {
            "variables": conn.execute("SELECT count(*) FROM variable").fetchone()[0],
            "connections": conn.execute("SELECT count(*) FROM connection").fetchone()[0],
        }


def _row(path: str, counts: dict, seconds: float, baseline: float) -> str:
    sizes = f"{counts['variables']:,} | {counts['connections']:,}"
    return f"| {path} | {sizes} | {seconds:.1f} | {seconds / baseline:.3f}x |"


def _import_only(out: Path) -> None:
    from twin.pgcluster import start_cluster

    pg = start_cluster()
    try:
        _imports(pg.dsn(), out)
    finally:
        pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variables", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=1_000)
    parser.add_argument("--sdk-variables", type=int, default=2_000, help="scale of the sdk-mode step")
    parser.add_argument("--sdk-connections", type=int, default=200, help="scale of the sdk-mode step")
    parser.add_argument(
        "--sdk-full", action="store_true", help="also run the sdk mode at full scale (~30 min)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument(
        "--import-only",
        type=Path,
        metavar="DIR",
        help="only step 3, on a private PostgreSQL: import DIR (from `platform-kit export decrypt`) both "
        "ways and print the times; nothing is written",
    )
    args = parser.parse_args()
    if args.import_only:
        _import_only(args.import_only)
        return

    from benchdocs import command_line
    from twin.stack import start_twin  # isort: skip

    print("starting the twin...", flush=True)
    twin = start_twin(manual_only=True, progress=lambda msg: print(f"  {msg}", flush=True))
    home = Path(tempfile.mkdtemp(prefix="platform-kit-bench-export-"))
    try:
        print(f"step 1: {args.sdk_variables} variables, {args.sdk_connections} connections", flush=True)
        seeded = _seed(twin, args.sdk_variables, args.sdk_connections)
        small = {"variables": args.sdk_variables, "connections": args.sdk_connections}
        small_baseline = _cli_baseline(twin)
        small_sdk = _run_dag(twin, "sdk")
        small_db = _run_dag(twin, "db")

        print(f"step 2: {args.variables} variables, {args.connections} connections", flush=True)
        _seed(twin, args.variables, args.connections, already=seeded)
        full = {"variables": args.variables, "connections": args.connections}
        full_baseline = _cli_baseline(twin)
        full_db = _run_dag(twin, "db")
        full_shell = _shell_export(twin, home)
        full_sdk = _run_dag(twin, "sdk") if args.sdk_full else None

        print("step 3: import into fresh Airflow metadata DBs", flush=True)
        imports = _imports(twin.metadb_dsn, _decrypt(twin, full_db["summary"]["destination"], home))
    finally:
        twin.stop()

    base_small, base_full = small_baseline["seconds"], full_baseline["seconds"]
    db_seconds = full_db["seconds"]
    met = db_seconds <= TARGET_RATIO * base_full and db_seconds <= TARGET_SECONDS
    cli_path = "`airflow variables export` + `airflow connections export` (baseline: plaintext, no upload)"
    rows = [
        "| path | variables | connections | seconds | vs CLI (same DB, same run) |",
        "|---|---:|---:|---:|---:|",
        _row(cli_path, small_baseline["counts"], base_small, base_small),
        _row("platform_kit_export, **sdk** mode: whole task", small, small_sdk["seconds"], base_small),
        _row("platform_kit_export, **db** mode: whole task", small, small_db["seconds"], base_small),
        _row(cli_path, full_baseline["counts"], base_full, base_full),
        _row("platform_kit_export, **db** mode: whole task", full, db_seconds, base_full),
        _row(
            "`platform-kit export create` (db mode, from a shell, incl. start-up)",
            full,
            full_shell["seconds"],
            base_full,
        ),
    ]
    if full_sdk:
        rows.append(
            _row("platform_kit_export, **sdk** mode: whole task", full, full_sdk["seconds"], base_full)
        )
    ours, theirs = imports["ours"], imports["baseline"]
    import_rows = [
        "| import into a fresh Airflow | variables | connections | seconds | vs CLI |",
        "|---|---:|---:|---:|---:|",
        _row(
            "`airflow variables import` + `airflow connections import` (baseline)",
            theirs["counts"],
            theirs["seconds"],
            theirs["seconds"],
        ),
        _row(
            "`platform-kit export import DIR --on-existing fail`",
            ours["counts"],
            ours["seconds"],
            theirs["seconds"],
        ),
    ]
    timings = full_db["summary"]
    sdk = small_sdk["summary"]
    sdk_scale = f"{args.sdk_variables:,}/{args.sdk_connections:,}"
    full_scale = f"{args.variables:,}/{args.connections:,}"
    ratio = db_seconds / base_full
    setup = (
        f"Same twin (PostgreSQL metadata DB with a Fernet key), same run. The sdk mode runs at {sdk_scale} "
        "because at 10,000/1,000 it takes ~2,000 s on this shared machine (measured before; the masker "
        "cost below); "
        + ("it also ran at full scale here." if full_sdk else "pass `--sdk-full` to add it at full scale.")
        + f" The full-scale artifact was {timings['size']} encrypted "
        f"({timings['document_bytes']:,} bytes of JSON before compression)."
    )
    verdict = (
        f"Target for the db mode at {full_scale}: at most {TARGET_RATIO}x the CLI and at most "
        f"{TARGET_SECONDS:.0f} s. Measured {db_seconds:.1f} s = {ratio:.3f}x: "
        + ("**met**." if met else "**missed**.")
    )
    db_split = (
        f"Where the db mode's {db_seconds:.1f} s go: reading the rows "
        f"{timings.get('read_rows_seconds', 0):.2f} s, decrypting them "
        f"{timings.get('decrypt_seconds', 0):.2f} s, "
        "the reader process in all (interpreter and Airflow import included) "
        f"{timings.get('reader_process_seconds', 0):.1f} s, collection {timings['collect_seconds']:.1f} s "
        f"of {timings['total_seconds']:.1f} s in the engine; the rest is the task's own start-up, "
        "encryption, upload, read-back and retention."
    )
    sdk_split = (
        f"Where the sdk mode's {small_sdk['seconds']:.0f} s go (at {sdk_scale}): listing ids and "
        f"descriptions over REST {sdk.get('list_keys_ids_descriptions_seconds', 0):.0f} s (the api-server "
        "loads every row and redacts each value with a regex over every secret it knows), reading every "
        f"value through the execution API {sdk.get('read_values_seconds', 0):.0f} s (one request per key; "
        "the server registers each connection's password with its masker). Both grow with the square of "
        "the number of secrets; the CLI baseline pays the same masker cost in its own process "
        "(`on_db_load` -> `mask_secret`)."
    )
    import_note = (
        "Import: `platform-kit export import` (`--via cli`, the default) checks both files, then writes "
        "every row through Airflow's models in one transaction in a child process (all or nothing, where "
        "the CLI commits row by row). Both pay Airflow's per-row cost: `Variable.set` per variable and a "
        "merge plus a `mask_secret` per connection password."
    )
    stamp = f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {os.cpu_count()} CPUs shared with other work"
    text = "\n".join(
        [
            SECTION,
            "",
            f"Command: `{command_line('bench_export.py')}` ({stamp}).",
            "",
            setup,
            "",
            *rows,
            "",
            verdict,
            "",
            db_split,
            "",
            sdk_split,
            "",
            *import_rows,
            "",
            import_note,
            "",
        ]
    )
    from benchdocs import publish

    print()
    publish(SECTION, text, write_docs=not args.no_write)


if __name__ == "__main__":
    main()
