"""Helpers for the export tests and benchmark: hard-to-export content, and fresh Airflow metadata DBs.

Not a test module (no ``test_`` prefix); ``tests/`` is on ``sys.path`` through its ``conftest.py``.

* :func:`make_content` builds variables and connections that break naive exports: JSON (compact and
  indented), unicode, multi-line, 100 KB values, names the secrets masker treats as sensitive, values that
  look like the ``{value, description}`` envelope, ``:@/%#`` and unicode in passwords, JSON extras whose
  formatting must survive. Every secret carries a unique marker so logs can be grepped for it.
* :class:`AirflowDB` is a real Airflow metadata DB in a PostgreSQL cluster: migrated with
  ``airflow db migrate`` in a subprocess (own AIRFLOW_HOME), driven with the ``airflow`` CLI, and read
  back with the ORM (decrypting with its Fernet key) for field-by-field comparison.
"""

from __future__ import annotations

import atexit
import functools
import json
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from airflow_env import airflow_cli_env

AIRFLOW_BIN = str(Path(sys.executable).parent / "airflow")
CONNECTION_FIELDS = ("conn_type", "description", "host", "login", "password", "schema", "port", "extra")


@dataclass
class Content:
    """``variables``: key -> {"value", "description"}; ``connections``: id -> CONNECTION_FIELDS."""

    variables: dict[str, dict] = field(default_factory=dict)
    connections: dict[str, dict] = field(default_factory=dict)

    def secrets(self) -> list[str]:
        """Every value that must never appear in a log: variable values and connection passwords/extras
        that carry a marker (short generic values such as ``true`` are not secrets)."""
        found = [v["value"] for v in self.variables.values() if "pkS3cret" in v["value"]]
        for conn in self.connections.values():
            found += [conn[f] for f in ("password", "extra") if conn[f] and "pkS3cret" in conn[f]]
        return found


def _marker(rng: random.Random, index: int, kind: str) -> str:
    return f"pkS3cret{kind}{index:05d}x{rng.randrange(16**6):06x}"


SENSITIVE_NAMES = ("password", "api_key", "secret", "access_token", "private_key", "passwd", "token")


def make_content(n_variables: int, n_connections: int, *, big_values: int = 3, seed: int = 7) -> Content:
    """Deterministic tricky content: ``n_variables`` variables, ``n_connections`` connections.

    :param big_values: how many variables get a ~100 KB value.
    """
    rng = random.Random(seed)
    content = Content()
    shapes = [
        lambda m: m,
        lambda m: json.dumps({"user": "ü", "token": m, "nested": {"list": [1, 2.5, None, True]}}),
        lambda m: json.dumps({"value": m, "description": "looks like the import envelope"}),
        lambda m: json.dumps([m, {"a": 1}], indent=4),
        lambda m: f"名前 ünïcødé ✓ 🚀 {m}",
        lambda m: f"line one {m}\nline two\r\n\ttabbed\n\nlast line\n",
        lambda m: f"quotes \" and ' and back\\slash {m}",
        lambda m: f"{{not json {m}",
    ]
    for i in range(n_variables):
        marker = _marker(rng, i, "V")
        name = SENSITIVE_NAMES[i % len(SENSITIVE_NAMES)] if i % 4 == 0 else "setting"
        key = f"pk_{name}_{i:05d}" if i % 3 else f"PK.{name}-{i:05d}"
        value = shapes[i % len(shapes)](marker)
        if i < big_values:
            value = f"{marker} " + "".join(rng.choice("abcdefghij ✓\n") for _ in range(100 * 1024))
        description = None if i % 5 == 0 else ("" if i % 5 == 1 else f"describes {key} ✓ {i}")
        content.variables[key] = {"value": value, "description": description}
    # Values that must come back as the exact same text (JSON-looking scalars); not secrets.
    for j, value in enumerate(["1e3", " 5", "007", "true", "null", "", '"quoted"', '{"a":1}']):
        if len(content.variables) < n_variables + 8 and n_variables:
            content.variables[f"pk_plain_scalar_{j}"] = {"value": value, "description": None}

    types = [
        ("postgres", "db.internal", 5432, "warehouse"),
        ("mysql", "mysql.internal", 3306, "app"),
        ("http", "https://api.example.com/v1", None, "https"),
        ("aws", None, None, None),
        ("generic", "generic.host", 1234, None),
        ("google_cloud_platform", None, None, None),
        ("sftp", "sftp.example.com", 22, None),
    ]
    for i in range(n_connections):
        marker = _marker(rng, i, "C")
        conn_type, host, port, schema = types[i % len(types)]
        extra = None
        if i % 3 != 2:
            extra = json.dumps(
                {"region_name": "eu-west-1", "token": f"tok-{marker}", "nested": {"ü": [1, "two"]}},
                indent=None if i % 2 else 2,
                ensure_ascii=bool(i % 2),
            )
        content.connections[f"pk_conn_{conn_type}_{i:04d}"] = {
            "conn_type": conn_type,
            "description": None if i % 4 == 0 else f"connection {i} ✓ unicode ü",
            "host": host,
            "login": None if i % 5 == 0 else f"user:@/%#ü{i}",
            "password": None if i % 10 == 9 else f"p:@/%#ü—✓ +?&={marker}",
            "schema": schema,
            "port": port,
            "extra": extra,
        }
    return content


def create_database(superuser_dsn: str, name: str, *, template: str | None = None) -> str:
    """Create database ``name`` in the cluster of ``superuser_dsn``; returns its ``postgresql://`` DSN."""
    import psycopg

    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    parts = urlsplit(superuser_dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def drop_database(superuser_dsn: str, name: str) -> None:
    import psycopg

    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_DUMP = """
import json, sys
from sqlalchemy import select
from airflow.models import Connection, Variable
from airflow.utils.session import create_session
fields = sys.argv[1].split(",")
with create_session() as session:
    rows = session.scalars(select(Variable))
    variables = {v.key: {"value": v.val, "description": v.description} for v in rows}
    rows = session.scalars(select(Connection))
    connections = {c.conn_id: {f: getattr(c, f) for f in fields} for c in rows}
with open(sys.argv[2], "w") as out:  # not stdout: Airflow logs there
    json.dump({"variables": variables, "connections": connections}, out)
"""

_LOAD = """
import json, sys
from airflow.models import Connection, Variable
from airflow.utils.session import create_session
data = json.load(sys.stdin)
with create_session() as session:
    for key, v in data["variables"].items():
        Variable.set(key, v["value"], v["description"], session=session)
    for conn_id, c in data["connections"].items():
        session.add(Connection(conn_id=conn_id, **c))
"""


@functools.cache
def _homes_root() -> Path:
    """One temporary folder per test process for every :class:`AirflowDB` home, removed when it exits
    (each home holds only Airflow's config and logs; the databases live in the test PostgreSQL)."""
    root = Path(tempfile.mkdtemp(prefix="platform-kit-export-af-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def _new_home() -> Path:
    return Path(tempfile.mkdtemp(dir=_homes_root()))


@dataclass
class AirflowDB:
    """A migrated Airflow metadata DB with its own AIRFLOW_HOME and Fernet key.

    :param dsn: ``postgresql://`` DSN of the database.
    """

    dsn: str
    fernet_key: str = "Xb1aJTKmv6ZZ6Rz0D0A8u3ZKHMnX2DqQ6jJzrA4nq2U="
    home: Path = field(default_factory=_new_home)

    @property
    def env(self) -> dict[str, str]:
        return airflow_cli_env(self.dsn, self.home, fernet_key=self.fernet_key)

    def cli(self, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        proc = subprocess.run([AIRFLOW_BIN, *args], env=self.env, capture_output=True, text=True, **kwargs)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"airflow {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
            )
        return proc

    def migrate(self) -> AirflowDB:
        self.cli("db", "migrate")
        return self

    def _python(self, code: str, *args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            [sys.executable, "-c", code, *args], env=self.env, capture_output=True, text=True, input=stdin
        )
        if proc.returncode != 0:
            raise AssertionError(f"python helper failed:\n{proc.stderr[-3000:]}")
        return proc.stdout

    def dump(self) -> Content:
        """Every variable and connection row, decrypted, as :class:`Content`."""
        return dump_rows(self.env)

    def load(self, content: Content) -> None:
        """Write ``content`` straight into the DB with the ORM (a source for the db-mode tests)."""
        self._python(
            _LOAD, stdin=json.dumps({"variables": content.variables, "connections": content.connections})
        )


def dump_rows(env: dict[str, str]) -> Content:
    """Every variable and connection row of the Airflow that ``env`` configures, decrypted, exactly as
    stored (the ORM in a subprocess; CLI output would re-render JSON)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        proc = subprocess.run(
            [sys.executable, "-c", _DUMP, ",".join(CONNECTION_FIELDS), out.name],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise AssertionError(f"dumping rows failed:\n{proc.stderr[-3000:]}")
        data = json.loads(Path(out.name).read_text())
    return Content(variables=data["variables"], connections=data["connections"])


def differences(expected: Content, actual: Content) -> list[str]:
    """Every field that differs, as readable lines without the values (they may be secrets)."""
    problems = []
    for kind in ("variables", "connections"):
        want, got = getattr(expected, kind), getattr(actual, kind)
        for name in sorted(set(want) - set(got)):
            problems.append(f"{kind}: {name} missing")
        for name in sorted(set(got) - set(want)):
            problems.append(f"{kind}: {name} unexpected")
        for name in sorted(set(want) & set(got)):
            for attr, value in want[name].items():
                if got[name].get(attr) != value:
                    problems.append(f"{kind}: {name}.{attr} differs")
    return problems
