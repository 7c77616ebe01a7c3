"""An ASGI app under uvicorn in a process of its own, as in production: for the benchmarks
and the tests that need a real server (a database crash under load, tiles beside tipg)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from geo.infra.localdb import free_port
from geo.infra.settings import PROJECT_ROOT


def start(
    app: str,
    env: dict[str, str],
    log: Path,
    probe_path: str = "/ready",
    workers: int = 1,
    factory: bool = False,
    timeout: float = 60,
) -> tuple[subprocess.Popen, str]:
    """Start ``uvicorn app`` on a free port of 127.0.0.1 with ``env`` added to the
    environment, output to ``log``; return the process and its base URL once ``probe_path``
    answers 200 (``2 * workers`` times over fresh connections, so that every worker is up).
    The process is stopped if it does not come up."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    cmd += ["--timeout-worker-healthcheck", "30"]  # uvicorn's 5 s restarts slow starters
    cmd += ["--factory", app] if factory else [app]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=PROJECT_ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base + probe_path, proc, timeout, log, probes=2 * workers)
    except Exception:
        stop(proc)
        raise
    return proc, base


def start_qala(
    database_url: str, secret: str, log: Path, workers: int = 1, timeout: float = 120, **env: str
) -> tuple[subprocess.Popen, str]:
    """The Qala Map API (``api.app:create_app``) against ``database_url`` (``timeout``: a
    loaded machine takes long to import the app)."""
    env = {
        "QALA_DATABASE_URL": database_url,
        "QALA_ENVIRONMENT": "test",
        "QALA_SECRET_KEY": secret,
        **env,
    }
    return start("api.app:create_app", env, log, workers=workers, factory=True, timeout=timeout)


def wait_healthy(
    url: str, proc: subprocess.Popen, timeout: float, log: Path | None = None, probes: int = 1
) -> None:
    """Wait until ``url`` answers 200 ``probes`` times in a row; raise with the last answer
    (and the tail of ``log``) if ``proc`` exits or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}{_tail(log)}")
        try:
            answers = [httpx.get(url, timeout=5) for _ in range(probes)]
            if all(r.status_code == 200 for r in answers):
                return
            bad = next(r for r in answers if r.status_code != 200)
            last = f"{bad.status_code} {bad.text[:200]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s: {last}{_tail(log)}")


def stop(proc: subprocess.Popen) -> None:
    """Terminate, then kill after 15 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def _tail(log: Path | None) -> str:
    return f"\n{log.read_text(errors='replace')[-2000:]}" if log and log.exists() else ""
