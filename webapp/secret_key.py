"""SECRET_KEY for signed session cookies: from the environment, or generated once locally."""

import os
import secrets
from pathlib import Path

from sqlalchemy.engine import make_url

from dripfleet.settings import ConfigError, Settings

KEY_FILE = "secret_key"


def resolve_secret_key(settings: Settings, testing: bool = False) -> str:
    """SECRET_KEY, else a key kept in DATA_DIR/secret_key for a local run, else ConfigError."""
    if settings.secret_key:
        return settings.secret_key
    if testing:
        return secrets.token_hex(32)
    if not settings.database_url or _is_embedded(settings):
        return _local_key(settings.data_dir / KEY_FILE)
    raise ConfigError(
        "SECRET_KEY",
        "must be set when DATABASE_URL names a database server (it signs session cookies; "
        "generate one with: python -c 'import secrets; print(secrets.token_hex(32))')",
    )


def _is_embedded(settings: Settings) -> bool:
    """True when DATABASE_URL is the embedded server under DATA_DIR, as `dripfleet up` exports."""
    url = make_url(settings.database_url or "")
    socket = url.query.get("host") or (url.host if (url.host or "").startswith("/") else None)
    if not isinstance(socket, str):
        return False
    pgdata = (settings.data_dir / "postgres").resolve()
    try:
        if Path(socket).resolve().is_relative_to(pgdata):
            return True
        # a long DATA_DIR makes pgserver put the socket in a runtime folder instead; the server's
        # postmaster.pid names the socket folder it really uses (5th line)
        lines = (pgdata / "postmaster.pid").read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    return len(lines) >= 5 and Path(lines[4].strip()).resolve() == Path(socket).resolve()


def _local_key(path: Path) -> str:
    """Read the key file, creating it (mode 0600) the first time."""
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # write a private temp file, then link it into place: link() fails if another process (a
    # second gunicorn worker) won the race, and then everyone reads the winner's complete file
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        key = path.read_text(encoding="utf-8").strip()
    finally:
        tmp.unlink()
    return key
