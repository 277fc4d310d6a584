"""Run the real product as a subprocess: the `voipagency` command, as an operator would."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.postgres_cluster import free_port

REPO = Path(__file__).resolve().parents[2]


def command() -> list[str]:
    """The console script next to this interpreter, else `python -m web.cli`."""
    script = Path(sys.executable).parent / "voipagency"
    return [str(script)] if script.exists() else [sys.executable, "-m", "web.cli"]


def clean_env(overrides: dict[str, str]) -> dict[str, str]:
    """This process's environment without any product setting, plus `overrides`. The demo loads
    without its history (seconds at every start) unless `overrides` ask for VOIPAGENCY_DEMO_DAYS."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("VOIPAGENCY_")}
    # Throwaway databases: SQLite commits without waiting for the disk (benchmarks ask for FULL).
    return {**env, "VOIPAGENCY_DEMO_DAYS": "0", "VOIPAGENCY_SQLITE_SYNCHRONOUS": "OFF", **overrides}


def run_cli(*args: str, env: dict[str, str], input: str | None = None) -> subprocess.CompletedProcess:
    """Run `voipagency ARGS` to completion; fail with its output when it fails."""
    done = subprocess.run([*command(), *args], env=clean_env(env), input=input, capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, f"voipagency {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


class LiveServer:
    """`voipagency serve` on a free port; `with LiveServer(env, workers=2) as server: server.url`."""

    def __init__(self, env: dict[str, str], workers: int = 1, port: int | None = None, timeout: float = 60,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.extra_args = extra_args
        self.env = clean_env(env)
        self.workers = workers
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.timeout = timeout
        self.process: subprocess.Popen | None = None
        fd, log = tempfile.mkstemp(prefix="voipagency-serve-", suffix=".log")
        os.close(fd)
        self.log = Path(log)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def start(self) -> "LiveServer":
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command(), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
                 *self.extra_args],
                env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"/healthz did not answer 200 within {self.timeout} s:\n{self.log_text()}")

    def stop(self) -> None:
        """SIGTERM (uvicorn stops its workers), then SIGKILL the process group we started."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # any worker left behind
        except ProcessLookupError:
            pass
        self.process.wait(timeout=5)
        self.process = None

    def kill(self) -> None:
        """SIGKILL the server and its workers at once, as a crash or the OOM killer would."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def __enter__(self) -> "LiveServer":
        return self.start()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop()
        if exc_type is None:
            self.log.unlink(missing_ok=True)  # kept for a look after a failure
