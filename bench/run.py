"""``make bench``: run every ``bench/bench_*.py`` and write results.json and RESULTS.md.

Usage: ``python -m bench.run [--only NAME ...] [--quick]``. The benchmarks run against a
throwaway PostGIS cluster of their own (durable settings, like the service), or against
``QALA_BENCH_DATABASE_URL`` when set.

Every record and section is stamped with its module, the date and command of its run and the
runs it stands on (a benchmark's records may say ``runs`` themselves when they are medians of
several; else 1). A benchmark that fails gets one FAILED row and section, and its earlier
records and sections are dropped: RESULTS.md never shows old figures under a new date.
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


# records written before bench.run stamped their module: a FAILED run of one of these
# modules drops them too (a record of a full run replaces them by name anyway)
LEGACY_PREFIXES = {
    "bench_api": ("api:",),
    "bench_boston": ("boston_",),
    "bench_demo": ("demo_city_",),
    "bench_import": ("import 2.3M:",),
    "bench_pages": ("page /",),
    "bench_tiles": ("tiles",),
}


def _module_of(record: dict) -> str | None:
    if "module" in record:
        return record["module"]
    for module, prefixes in LEGACY_PREFIXES.items():
        if record["name"].startswith(prefixes):
            return module
    return None


LEGACY_SECTIONS = {
    "Appeal creation through the API": "bench_api",
    "Boston 311 hot spots": "bench_boston",
    "History import (bench_import)": "bench_import",
    "Vector tiles of the appeals layer (ours vs tipg)": "bench_tiles",
}


def _section(title: str, value: str | dict) -> dict:
    """A kept section; older files held its text alone (date and command not recorded)."""
    if isinstance(value, dict):
        return value
    return {"body": value, "module": LEGACY_SECTIONS.get(title)}


def write_results(
    results: list[dict],
    sections: dict[str, dict],
    failed: dict[str, dict] | None = None,
) -> None:
    """Merge this run's records and sections into results.json and sections.json (those of
    benchmarks not run are kept; those of a benchmark that ran or failed are replaced), and
    write RESULTS.md from them. ``failed``: module -> its FAILED record."""
    failed = failed or {}
    path_json = BENCH_DIR / "results.json"
    old = json.loads(path_json.read_text()) if path_json.exists() else []
    ran = {r["module"] for r in results} | set(failed)
    names = {r["name"] for r in results}
    merged = [r for r in old if r["name"] not in names and _module_of(r) not in ran]
    merged += results + list(failed.values())
    path_json.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m bench.run`) from `bench/results.json`; each "
        "row names its date, the command that produced it and the runs it stands on (a "
        "benchmark that failed shows FAILED, its earlier figures dropped). Machine: "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        "| benchmark | value | unit | goal | met | runs | date (UTC) | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in merged:
        met = {True: "yes", False: "**no**", None: "–"}[r.get("met")]
        value = "**FAILED**" if r.get("failed") else f"{r['value']:g}"
        lines.append(
            f"| {r['name']} | {value} | {r['unit']} | {r.get('goal') or '–'} | {met} "
            f"| {r.get('runs', '–')} | {r.get('date', 'not recorded')} | `{r['command']}` |"
        )
    notes = BENCH_DIR / "NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    # sections are kept across runs like the records: a run of one benchmark keeps the others'
    path_sections = BENCH_DIR / "sections.json"
    kept = {
        title: _section(title, v)
        for title, v in (
            json.loads(path_sections.read_text()) if path_sections.exists() else {}
        ).items()
    }
    kept = {t: v for t, v in kept.items() if v.get("module") not in ran}
    kept.update(sections)
    for module, rec in failed.items():
        kept[f"{module}: FAILED"] = {
            "body": f"The run of {rec['date']} UTC (`{rec['command']}`) failed: "
            f"{rec.get('detail', 'see its output')}. Its earlier figures are dropped.",
            "module": module,
            "date": rec["date"],
            "command": rec["command"],
            "runs": 0,
        }
    path_sections.write_text(json.dumps(kept, indent=2, ensure_ascii=False) + "\n")
    for title, sec in kept.items():
        lines += ["", f"## {title}", ""]
        if sec.get("date"):
            lines += [
                f"_Run {sec['date']} UTC by `{sec['command']}`; the figures stand on "
                f"{sec['runs']} run(s) of the benchmark._",
                "",
            ]
        else:
            lines += ["_Date, command and runs not recorded (written by an older bench.run)._", ""]
        lines.append(sec["body"].strip())
    (BENCH_DIR / "RESULTS.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", nargs="*", help="run only benchmarks whose module name has this")
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    ap.add_argument(
        "--keep",
        metavar="DIR",
        help="a cluster in DIR kept between runs, with the generated cities kept in it as "
        "templates (a 2.3M-appeal city is built once, then copied in a minute)",
    )
    args = ap.parse_args(argv)
    command = "python -m bench.run" + (" " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "")
    given = os.environ.get("QALA_BENCH_DATABASE_URL")
    cluster = None
    if not given:
        root = (
            Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="qala-bench-"))
        )
        port = int((root / "port").read_text()) if (root / "port").exists() else free_port()
        root.mkdir(parents=True, exist_ok=True)
        (root / "port").write_text(str(port))
        cluster = LocalCluster(root=root, port=port, durable=True)
        cluster.up(echo=lambda m: print(m, file=sys.stderr))
    ctx = BenchContext(
        cluster_url=given or cluster.url(),
        command=command,
        quick=args.quick,
        service_login=None
        if given
        else (cluster.service_role, read_password(cluster.root, cluster.service_role)),
        templates=bool(args.keep),
    )
    results: list[dict] = []
    sections: dict[str, dict] = {}
    failed: dict[str, dict] = {}
    try:
        for name in modules(args.only):
            print(f"== {name}", file=sys.stderr)
            date = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}"
            try:
                mod = importlib.import_module(f"bench.{name}")
                out = mod.run(ctx)
            except Exception as exc:
                traceback.print_exc()
                failed[name] = {
                    "name": f"{name}: FAILED",
                    "value": None,
                    "unit": "",
                    "goal": None,
                    "met": False,
                    "command": command,
                    "module": name,
                    "date": date,
                    "runs": 0,
                    "failed": True,
                    "detail": f"{type(exc).__name__}: {str(exc)[:300]}",
                }
                continue
            finally:
                ctx.drop_databases()
            for r in out:
                r.update(module=name, date=date)
                r.setdefault("runs", 1)
                print(json.dumps(r, ensure_ascii=False), file=sys.stderr)
            results += out
            if hasattr(mod, "section"):
                runs = max((r["runs"] for r in out), default=1)
                for title, body in mod.section().items():
                    sections[title] = {
                        "body": body,
                        "module": name,
                        "date": date,
                        "command": command,
                        "runs": runs,
                    }
        write_results(results, sections, failed)
    finally:
        ctx.drop_databases(everything=True)
        if cluster and not args.keep:
            cluster.destroy()
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
