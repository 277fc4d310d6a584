"""A throwaway PostgreSQL cluster for the test run, started from the server binaries on this
machine (Debian's postgresql package). PostgreSQL refuses to run as root, so as root the
cluster runs as the `postgres` system user."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass


def find_bin_dir() -> str | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(candidate, "initdb")):
            return candidate
    path = shutil.which("initdb")
    return os.path.dirname(path) if path else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The tests' cluster trades durability for speed; the benchmarks start theirs durable (benchmarks/common.py).
FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


@dataclass
class Cluster:
    bin_dir: str
    data_dir: str
    port: int
    run_as: list[str]
    settings: str = FAST

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.run_as, *args], check=True, capture_output=True, text=True)

    def start(self) -> None:
        self._run(
            os.path.join(self.bin_dir, "initdb"),
            "-D",
            self.data_dir,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} {self.settings} -c max_connections=300"
        )
        self._run(
            os.path.join(self.bin_dir, "pg_ctl"),
            "-D",
            self.data_dir,
            "-o",
            options,
            "-w",
            "-l",
            os.path.join(self.data_dir, "server.log"),
            "start",
        )

    def create_database(self, name: str) -> str:
        self._run(
            os.path.join(self.bin_dir, "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-c",
            f'CREATE DATABASE "{name}"',
        )
        return self.dsn(name)

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, os.path.join(self.bin_dir, "pg_ctl"), "-D", self.data_dir, "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(os.path.dirname(self.data_dir), ignore_errors=True)


def start_cluster(settings: str = FAST) -> Cluster:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's postgresql")
    parent = tempfile.mkdtemp(prefix="voipagency-pg-")
    data_dir = os.path.join(parent, "data")
    run_as: list[str] = []
    if os.geteuid() == 0:
        os.chmod(parent, 0o755)
        os.makedirs(data_dir)
        shutil.chown(data_dir, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    cluster = Cluster(bin_dir=bin_dir, data_dir=data_dir, port=free_port(), run_as=run_as, settings=settings)
    cluster.start()
    deadline = time.time() + 30
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", cluster.port)) == 0:
                return cluster
        time.sleep(0.2)
    raise RuntimeError("PostgreSQL did not start")
