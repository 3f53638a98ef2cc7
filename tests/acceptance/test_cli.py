import subprocess
import sys

from sqlalchemy import text

from dripfleet import credentials


def dripfleet(url, *args, stdin=None):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "dripfleet.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_create_user_stores_only_a_password_hash(database_url, engine):
    done = dripfleet(
        database_url,
        "create-user",
        "Ana@Example.com",
        "--name",
        "Ana",
        "--password-stdin",
        stdin="s3cret-enough\n",
    )
    assert done.returncode == 0, done.stderr
    with engine.begin() as conn:
        email, stored = conn.execute(text("SELECT email, password_hash FROM users")).one()
    assert email == "ana@example.com"
    assert "s3cret-enough" not in stored and stored.startswith("$argon2id$")
    assert credentials.verify_password(stored, "s3cret-enough")


def test_create_user_refuses_duplicates_short_passwords_and_bad_zones(database_url):
    assert (
        dripfleet(
            database_url, "create-user", "a@x.io", "--password-stdin", stdin="long-enough\n"
        ).returncode
        == 0
    )
    dup = dripfleet(
        database_url, "create-user", "A@X.io", "--password-stdin", stdin="long-enough\n"
    )
    assert dup.returncode == 1 and "already exists" in dup.stderr
    short = dripfleet(database_url, "create-user", "b@x.io", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 8" in short.stderr
    zone = dripfleet(
        database_url,
        "create-user",
        "c@x.io",
        "--timezone",
        "Mars/Base",
        "--password-stdin",
        stdin="long-enough\n",
    )
    assert zone.returncode == 2 and "--timezone" in zone.stderr


def test_create_token_prints_it_once_and_stores_its_hash(database_url, engine):
    dripfleet(database_url, "create-user", "t@x.io", "--password-stdin", stdin="long-enough\n")
    done = dripfleet(database_url, "create-token", "t@x.io")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith(credentials.TOKEN_PREFIX) and len(token) > 40
    with engine.begin() as conn:
        stored = conn.execute(text("SELECT token_hash FROM api_tokens")).scalar_one()
    assert stored == credentials.hash_token(token) and token not in stored
    missing = dripfleet(database_url, "create-token", "nobody@x.io")
    assert missing.returncode == 1 and "no user" in missing.stderr
