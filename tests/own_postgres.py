"""A PostgreSQL server of one test's own, which the test may stop, start and restart.

Fault tests never touch the machine's shared server: they start this one (pgserver's binaries,
a data folder in a temporary directory, a unix socket) and break it as production would.
"""

import contextlib
import shutil
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from dripfleet import database
from dripfleet.migrations import migrate


class OwnPostgres:
    """One private server; `url` stays valid across stop / start / restart."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="dripfleet-own-pg-"))
        # the server runs as the `pgserver` user when we are root: it must reach its folder
        self.folder.chmod(0o755)
        self.pgdata = self.folder / "pgdata"
        self._server = database.start_embedded(self.pgdata, cleanup_mode=None)
        self.url = self._server.get_uri()
        self.socket_dir = parse_qs(urlparse(self.url).query)["host"][0]

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.pgdata, user=self._server.system_user, timeout=60)

    def migrated(self) -> str:
        """Apply every migration; returns the URL."""
        migrate(self.url)
        return self.url

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (fast: disconnect everyone, as a restart or failover does)."""
        self._pg_ctl("-w", "-m", mode, "stop")

    def start(self) -> None:
        """Start it again on the same socket."""
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}",
                     "-l", str(self.pgdata / "restart.log"), "start")

    def restart(self) -> None:
        """Stop and start, as `pg_ctlcluster … restart` does."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and delete its folder."""
        database.dispose_engines()
        with contextlib.suppress(Exception):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
