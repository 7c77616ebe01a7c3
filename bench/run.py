"""``make bench``: run every ``bench/bench_*.py`` and write results.json and RESULTS.md.

Usage: ``python -m bench.run [--only NAME ...] [--quick]``. The benchmarks run against a
throwaway PostGIS cluster of their own (durable settings, like the service), or against
``QALA_BENCH_DATABASE_URL`` when set.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import shlex
import sys
import tempfile
import traceback
from pathlib import Path

from bench.harness import BENCH_DIR, BenchContext
from geo.infra.localdb import LocalCluster, free_port, read_password


def modules(only: list[str] | None) -> list[str]:
    names = sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))
    if only:
        names = [n for n in names if any(o in n for o in only)]
    return names


def write_results(results: list[dict], sections: dict[str, str]) -> None:
    path_json = BENCH_DIR / "results.json"
    old = []
    if path_json.exists():
        old = json.loads(path_json.read_text())
    names = {r["name"] for r in results}
    merged = [r for r in old if r["name"] not in names] + results
    path_json.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m bench.run`) from `bench/results.json`; each "
        "row names the command that produced it. Machine: "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"last run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "| benchmark | value | unit | goal | met | command |",
        "|---|---|---|---|---|---|",
    ]
    for r in merged:
        met = {True: "yes", False: "**no**", None: "–"}[r.get("met")]
        lines.append(
            f"| {r['name']} | {r['value']:g} | {r['unit']} | {r.get('goal') or '–'} "
            f"| {met} | `{r['command']}` |"
        )
    notes = BENCH_DIR / "NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    # sections are kept across runs like the records: a run of one benchmark keeps the others'
    path_sections = BENCH_DIR / "sections.json"
    kept = json.loads(path_sections.read_text()) if path_sections.exists() else {}
    kept.update(sections)
    path_sections.write_text(json.dumps(kept, indent=2, ensure_ascii=False) + "\n")
    for title, body in kept.items():
        lines += ["", f"## {title}", "", body.strip()]
    (BENCH_DIR / "RESULTS.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", nargs="*", help="run only benchmarks whose module name has this")
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = ap.parse_args(argv)
    command = "python -m bench.run" + (" " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "")
    given = os.environ.get("QALA_BENCH_DATABASE_URL")
    cluster = None
    if not given:
        cluster = LocalCluster(
            root=Path(tempfile.mkdtemp(prefix="qala-bench-")), port=free_port(), durable=True
        )
        cluster.up(echo=lambda m: print(m, file=sys.stderr))
    ctx = BenchContext(
        cluster_url=given or cluster.url(),
        command=command,
        quick=args.quick,
        service_login=None
        if given
        else (cluster.service_role, read_password(cluster.root, cluster.service_role)),
    )
    results: list[dict] = []
    sections: dict[str, str] = {}
    failed = []
    try:
        for name in modules(args.only):
            print(f"== {name}", file=sys.stderr)
            mod = importlib.import_module(f"bench.{name}")
            try:
                out = mod.run(ctx)
            except Exception:
                traceback.print_exc()
                failed.append(name)
                continue
            finally:
                ctx.drop_databases()
            for r in out:
                print(json.dumps(r, ensure_ascii=False), file=sys.stderr)
            results += out
            if hasattr(mod, "section"):
                sections.update(mod.section())
        write_results(results, sections)
    finally:
        ctx.drop_databases(everything=True)
        if cluster:
            cluster.destroy()
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
