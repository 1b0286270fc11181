"""Every DAG file the bundle ships: imports cleanly, documents itself, starts paused, parses cheaply."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted(p for p in (REPO / "dags").rglob("*.py") if p.name != "__init__.py")
HEAVY_MODULES = ("boto3", "botocore", "google.cloud", "psycopg", "psycopg2")
MAINTENANCE_DAGS = {
    "platform_kit_log_cleanup",
    "platform_kit_metadb_backup",
    "platform_kit_export",
    "platform_kit_metadb_cleanup",
}


def test_dag_files_exist():
    assert any("maintenance" in p.parts for p in DAG_FILES)
    assert any("examples" in p.parts for p in DAG_FILES)


def test_no_import_errors(dag_bag):
    assert dag_bag.import_errors == {}
    assert dag_bag.dags


def test_the_maintenance_dags_are_all_there(dag_bag):
    assert set(dag_bag.dags) >= MAINTENANCE_DAGS


@pytest.mark.parametrize("attribute", ["owner", "tags", "doc_md", "paused"])
def test_every_dag_documents_itself_and_starts_paused(dag_bag, attribute):
    problems = []
    for dag_id, dag in sorted(dag_bag.dags.items()):
        if attribute == "owner" and (not dag.owner or dag.owner == "airflow"):
            problems.append(f"{dag_id}: set an explicit owner in default_args")
        if attribute == "tags" and "platform-kit" not in dag.tags:
            problems.append(f"{dag_id}: tag it 'platform-kit'")
        if attribute == "doc_md" and len((dag.doc_md or "").strip()) < 80:
            problems.append(f"{dag_id}: doc_md missing or too short to help anyone")
        if attribute == "paused" and dag.is_paused_upon_creation is not True:
            problems.append(f"{dag_id}: is_paused_upon_creation must be True")
    assert problems == []


def test_maintenance_dags_run_one_at_a_time_and_document_every_param(dag_bag):
    for dag_id in MAINTENANCE_DAGS & set(dag_bag.dags):
        dag = dag_bag.dags[dag_id]
        assert dag.max_active_runs == 1, dag_id
        assert dag.params, f"{dag_id} has no Params"
        for name, param in dag.params.items():
            schema = param.schema
            assert schema.get("type"), f"{dag_id}.{name}: Param without a schema type"
            assert param.description or schema.get("description"), f"{dag_id}.{name}: undocumented Param"


def test_maintenance_tasks_return_one_xcom_not_one_per_key(dag_bag):
    """A ``-> dict`` annotation turns on ``multiple_outputs``: a backup run then left 19 XCom keys."""
    spread = [
        f"{dag_id}.{task.task_id}"
        for dag_id in sorted(MAINTENANCE_DAGS)
        for task in dag_bag.dags[dag_id].tasks
        if task.multiple_outputs
    ]
    assert spread == []


def test_every_maintenance_dag_can_post_its_summary_to_slack(dag_bag):
    """The README promises it; the Param is the shared optional one (empty = no message)."""
    for dag_id in MAINTENANCE_DAGS:
        param = dict(dag_bag.dags[dag_id].params.items()).get("slack_conn_id")
        assert param is not None, f"{dag_id} has no slack_conn_id Param"
        assert param.value is None and "string" in param.schema["type"], dag_id


@pytest.fixture(scope="module")
def heavy_imports_per_file() -> dict[str, list[str]]:
    """Import every DAG file in one fresh interpreter; what each file adds to ``sys.modules``.

    Namespace packages such as ``google.cloud`` are pre-imported by *-nspkg.pth files at interpreter
    start-up, so only what a DAG file adds counts. A module a previous file already loaded is charged
    to that file, which fails the test just the same. ``airflow.sdk`` is imported first: what Airflow
    itself loads is every DAG file's baseline, not the file's doing (3.1's loads psycopg2).
    """
    code = (
        "import importlib.util, json, sys\n"
        "import airflow.sdk\n"
        "result = {}\n"
        f"for index, path in enumerate({[str(p) for p in DAG_FILES]!r}):\n"
        "    before = set(sys.modules)\n"
        "    spec = importlib.util.spec_from_file_location(f'dag_under_test_{index}', path)\n"
        "    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        f"    added = set(sys.modules) - before\n"
        f"    result[path] = sorted(m for m in added if m.startswith({HEAVY_MODULES!r}))\n"
        "print(json.dumps(result))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_parsing_a_dag_file_loads_no_heavy_client_library(dag_file, heavy_imports_per_file):
    assert heavy_imports_per_file[str(dag_file)] == []


PARSE_TIME_LOOKUPS = {"Variable.get", "Connection.get", "BaseHook.get_connection", "Variable.keys"}
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def test_dag_files_read_no_variable_or_connection_at_parse_time():
    offenders = []
    for dag_file in DAG_FILES:
        tree = ast.parse(dag_file.read_text())
        in_functions = {
            id(node) for func in ast.walk(tree) if isinstance(func, FUNCTIONS) for node in ast.walk(func)
        }
        for call in ast.walk(tree):
            at_parse_time = isinstance(call, ast.Call) and id(call) not in in_functions
            if at_parse_time and ast.unparse(call.func) in PARSE_TIME_LOOKUPS:
                offenders.append(f"{dag_file.name}:{call.lineno} {ast.unparse(call.func)}")
    assert offenders == []


ORM_MODULES = ("airflow.settings", "airflow.utils.session", "airflow.models", "sqlalchemy.orm")
# Modules that never run inside a task, each with the reason.
ORM_ALLOWED = {
    # The one home of Airflow internals. Its ORM accessors are called only by the DB cleanup's child
    # process (`python -m platform_kit.dbclean.child`, handed an explicit metadata-DB URL from the
    # dedicated connection: the documented opt-in around the block) and by the shell-side connection
    # lookup, which refuses to touch the metadata DB inside a task (`connections.metadata_db_configured`).
    "plugins/platform_kit/version_compat.py",
    # The Platform page and the metrics endpoint read the metadata DB in the api-server (a FastAPI app the
    # plugin mounts there, where the ORM is Airflow's own way in). Only platform_kit.status.app imports
    # it, and only the api-server serves that app; no task, DAG file or CLI command imports the package.
    "plugins/platform_kit/status/collect.py",
}


def test_task_code_does_not_import_the_orm():
    """Airflow 3 blocks the ORM in tasks; catching it statically keeps a DAG from passing dag.test() only.

    Work on the metadata DB runs in child processes given an explicit DB URL (DB cleanup, the export's db
    mode and cli import) through ``version_compat``'s accessors; those modules never import the ORM.
    """
    offenders = []
    for module in (REPO / "plugins" / "platform_kit").rglob("*.py"):
        if str(module.relative_to(REPO)) in ORM_ALLOWED:
            continue
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith(ORM_MODULES):
                    offenders.append(f"{module.relative_to(REPO)}:{node.lineno} imports {name}")
    assert offenders == []


def test_nothing_outside_the_status_package_imports_it_but_the_plugin():
    """The ORM allowance for ``status/collect.py`` holds only while tasks, DAG files and the CLI never
    import the api-server side; the plugin references it through a lazy ASGI wrapper."""
    importers = []
    for module in [*(REPO / "plugins" / "platform_kit").rglob("*.py"), *DAG_FILES]:
        relative = str(module.relative_to(REPO))
        if "/status/" in relative or relative == "plugins/platform_kit/plugin.py":
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.startswith("platform_kit.status") for name in names):
                importers.append(f"{relative}:{node.lineno}")
    assert importers == []
