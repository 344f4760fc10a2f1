"""A real PostgreSQL server for the tests, from Debian's packages (`apt-get install postgresql`; .ci/run does it).

    server = PostgresServer.start()        # initdb + pg_ctl on a free loopback port, in a temporary directory
    url = server.new_database()            # postgresql://microgpt@127.0.0.1:PORT/t1 — a fresh, empty database
    server.stop()

initdb refuses to run as root, so as root (CI) the server runs as the `postgres` system user, its files in a
temporary directory that user owns.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def pg_bin() -> Path | None:
    """The newest PostgreSQL binaries directory with pg_ctl, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self, root: Path, port: int, bin_dir: Path, user: str | None) -> None:
        self.root, self.port, self.bin_dir, self.user = root, port, bin_dir, user
        self.data = root / "data"
        self._names = itertools.count(1)

    @property
    def admin_url(self) -> str:
        return f"postgresql://microgpt@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, cwd=self.root)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")

    @classmethod
    def start(cls, durable: bool = False) -> PostgresServer:
        """`durable=False` turns fsync off (a test server's data need not survive a power cut; it starts faster)."""
        bin_dir = pg_bin()
        if bin_dir is None:
            raise FileNotFoundError("no /usr/lib/postgresql/*/bin/pg_ctl")
        user = "postgres" if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="microgpt-pg-"))
        if user is not None:
            pw = pwd.getpwnam(user)
            os.chown(root, pw.pw_uid, pw.pw_gid)
        server = cls(root, free_port(), bin_dir, user)
        server._run("initdb", "-D", str(server.data), "-U", "microgpt", "--auth=trust", "--no-locale", "-E", "UTF8",
                    "--no-sync")  # fmt: skip
        options = [
            f"-p {server.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={root}",
            "-c max_connections=300",  # replicas x threads, each thread with its own connection
        ]
        if not durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        server._run("pg_ctl", "-D", str(server.data), "-l", str(root / "server.log"), "-o", " ".join(options),
                    "-w", "-t", "60", "start")  # fmt: skip
        return server

    def new_database(self) -> str:
        import psycopg

        name = f"t{next(self._names)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql://microgpt@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
