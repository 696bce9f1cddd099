"""The foundation: errors, paths, configuration loading, the schema check and the CLI skeleton."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from pagerbridge import __version__
from pagerbridge.config import load_config, load_yaml, validate
from pagerbridge.errors import ConfigError, SchemaOutdatedError
from pagerbridge.paths import data_dir, resolve_database_url, sqlite_path
from pagerbridge.store import migrate
from pagerbridge.store.engine import make_engine


class Delivery(BaseModel):
    workers: int = 4
    name: str = "x"


class Settings(BaseModel):
    delivery: Delivery = Delivery()
    items: list[int] = []


def test_env_expansion_with_and_without_default() -> None:
    data, _ = load_yaml(
        "a: ${A}\nb: ${B:-fallback}\nc: 'literal $$HOME'\nd: ${PORT}\n",
        environ={"A": "set", "PORT": "8081"},
    )
    assert data == {"a": "set", "b": "fallback", "c": "literal $HOME", "d": 8081}


def test_unset_variable_without_default_names_file_line_and_key() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml("x: 1\nnotifier:\n  key: ${MISSING_KEY}\n", file="w.yaml", environ={})
    err = info.value
    assert (err.file, err.line, err.key) == ("w.yaml", 3, "notifier.key")
    assert "MISSING_KEY" in str(err)


def test_validation_error_names_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("delivery:\n  name: ok\n  workers: many\n")
    with pytest.raises(ConfigError) as info:
        load_config(Settings, path, environ={})
    assert info.value.line == 3
    assert info.value.key == "delivery.workers"
    assert str(info.value).startswith(f"{path}:3 (delivery.workers): ")


def test_yaml_syntax_error_has_a_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml("a: [1, 2\nb: 3\n", file="bad.yaml", environ={})
    assert info.value.file == "bad.yaml" and info.value.line is not None


def test_valid_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("delivery:\n  workers: ${W}\nitems: [1, 2]\n")
    settings = load_config(Settings, path, environ={"W": "8"})
    assert settings.delivery.workers == 8 and settings.items == [1, 2]
    data, smap = load_yaml(path.read_text(), environ={"W": "8"})
    assert validate(Settings, data, smap) == settings


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(Settings, tmp_path / "nope.yaml")


def test_database_url_precedence(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PAGERBRIDGE_DATABASE_URL": "postgresql://db/pb"}
    assert resolve_database_url("postgresql://cli/x", env) == "postgresql://cli/x"
    assert resolve_database_url(None, env) == "postgresql://db/pb"
    assert resolve_database_url("some.db", {}).startswith("sqlite:///")
    user_env = {"HOME": str(tmp_path), "PAGERBRIDGE_DATA_DIR": str(tmp_path / "d")}
    assert resolve_database_url(None, user_env) == f"sqlite:///{tmp_path}/d/pagerbridge.db"
    assert data_dir({"STATE_DIRECTORY": "/var/lib/pagerbridge"}) == Path("/var/lib/pagerbridge")
    assert sqlite_path("sqlite:////tmp/a.db") == Path("/tmp/a.db")
    assert sqlite_path("postgresql://x/y") is None


def test_sqlite_database_file_is_private_and_durable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'pb.db'}"
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    assert (tmp_path / "sub" / "pb.db").stat().st_mode & 0o777 == 0o600


def test_heads_constant_matches_alembic() -> None:
    assert set(migrate.HEADS) == migrate.alembic_heads()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("pg", marks=pytest.mark.postgres)])
def test_schema_check_before_and_after_upgrade(
    kind: str, request: pytest.FixtureRequest, sqlite_url: str
) -> None:
    url = sqlite_url if kind == "sqlite" else request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    with pytest.raises(SchemaOutdatedError, match="pagerbridge db upgrade"):
        migrate.check_current(engine)
    migrate.upgrade(engine)
    migrate.check_current(engine)
    migrate.upgrade(engine)  # idempotent
    assert migrate.current_revisions(engine) == set(migrate.HEADS)


def test_version_and_db_commands(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", "from pagerbridge.cli.main import run; run()", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0 and out.stdout.strip() == f"pagerbridge {__version__}"
    db = str(tmp_path / "x.db")
    script = "from pagerbridge.cli.main import run; run()"
    check = subprocess.run(
        [sys.executable, "-c", script, "db", "check", "--db", db], capture_output=True, text=True
    )
    assert check.returncode == 74 and "pagerbridge db upgrade" in check.stderr
    assert "Traceback" not in check.stderr
    assert not Path(db).exists(), "a check must not create the database"
    up = subprocess.run(
        [sys.executable, "-c", script, "db", "upgrade", "--db", db], capture_output=True, text=True
    )
    assert up.returncode == 0, up.stderr
    check = subprocess.run(
        [sys.executable, "-c", script, "db", "check", "--db", db], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


def test_unreachable_database_is_one_line_without_the_password() -> None:
    script = "from pagerbridge.cli.main import run; run()"
    url = "postgresql://someone:hunter2@127.0.0.1:1/nowhere"
    for command in ("upgrade", "check"):
        proc = subprocess.run(
            [sys.executable, "-c", script, "db", command, "--db", url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 74, proc.stderr
        assert proc.stderr.startswith("error: cannot open database ")
        assert "Traceback" not in proc.stderr and "hunter2" not in proc.stderr


def test_known_revisions_are_alembics_own() -> None:
    """The cheap check reads revision ids from the file names: they must be Alembic's ids."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate._alembic_config(None))  # type: ignore[arg-type]
    assert migrate.known_revisions() == {r.revision for r in script.walk_revisions()}
