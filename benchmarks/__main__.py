"""``python -m benchmarks [--quick] [--only parse,lookup,azure,kube]`` (use ``scripts/bench.sh``).

Runs each scenario (ours and the alternative interleaved, repeated), prints a table and writes
``benchmarks/results/latest.json`` and ``latest.md`` (machine, date, every number).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from benchmarks.harness import Result

RESULTS = Path(__file__).resolve().parent / "results"
GROUPS = ("parse", "lookup", "azure", "kube")


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str] = {}
    from importlib.metadata import PackageNotFoundError, version

    for package in (
        "apache-airflow",
        "apache-airflow-providers-cncf-kubernetes",
        "apache-airflow-providers-microsoft-azure",
        "azure-keyvault-secrets",
        "azure-identity",
        "kubernetes",
    ):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False, cwd=RESULTS.parent.parent
    ).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load average at start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit,
        "packages": versions,
    }


def _fmt_seconds(value: float) -> str:
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.2f} ms"
    return f"{value * 1e6:.2f} µs"


def _fmt_counts(counts: dict[str, Any]) -> str:
    return "; ".join(f"{k}: {json.dumps(v) if not isinstance(v, str) else v}" for k, v in counts.items())


def markdown(info: dict[str, Any], results: list[Result], seconds: float) -> str:
    lines = [
        "# Benchmark results (latest run)",
        "",
        f"Machine: {info['cpu']} ({info['cores']} cores), Python {info['python']}, {info['platform']}; "
        f"load average at start {info['load average at start']}. Date: {info['date']}, commit {info['commit']}. "
        f"Run took {seconds:.0f} s.",
        "",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in info["packages"].items()),
        "",
        "Ratio = ours / alternative (below 1: ours is faster); median of interleaved pairs, with the",
        "25th-75th percentile and min-max of the per-pair ratios, and the ratio of the fastest samples.",
        "",
        "| scenario | ours vs alternative | ratio (median) | p25-p75 | min-max | fastest/fastest | ours | alternative | target | counts |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | {r.ours} vs {r.alternative} | **{r.ratio_median:.3g}x** | "
            f"{r.ratio_p25:.3g}-{r.ratio_p75:.3g} | {r.ratio_min:.3g}-{r.ratio_max:.3g} | {r.ratio_of_minimums:.3g}x | "
            f"{_fmt_seconds(r.ours_median)} | {_fmt_seconds(r.alternative_median)} | {r.target} | "
            f"{_fmt_counts(r.counts)}{' (' + r.note + ')' if r.note else ''} |"
        )
    return "\n".join(lines) + "\n"


def run_group(name: str, quick: bool) -> list[Result]:
    if name == "parse":
        from benchmarks import parse

        results = [
            parse.construct(repeats=15 if quick else 61),
            parse.pod_build(repeats=5 if quick else 11),
        ]
        results += parse.whole_process(repeats=3 if quick else 7)
        results += parse.growth(repeats=1 if quick else 3)
        return results
    if name == "lookup":
        from benchmarks import lookup

        return [lookup.cached_lookup(repeats=11 if quick else 41)]
    if name == "azure":
        from benchmarks import lookup

        return [*lookup.azure_fan_out(repeats=3 if quick else 9), lookup.azure_backend(repeats=3 if quick else 9)]
    if name == "kube":
        from benchmarks import kube

        cluster = kube.Cluster()
        try:
            return [
                kube.one_secret_many_ids(cluster, repeats=3 if quick else 7),
                kube.launch(cluster, repeats=3 if quick else 5),
                kube.connection_fields(cluster, repeats=3 if quick else 5),
            ]
        finally:
            cluster.close()
    raise ValueError(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run; noisier)")
    parser.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated groups of {GROUPS}")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where latest.json and latest.md go")
    args = parser.parse_args(argv)
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        parser.error(f"unknown groups {unknown}; choose from {GROUPS}")

    logging.disable(logging.INFO)  # operators and SDKs log every build and request at INFO
    warnings.simplefilter("ignore")
    info = machine()
    started = time.perf_counter()
    results: list[Result] = []
    for group in groups:
        print(f"== {group}", file=sys.stderr, flush=True)
        for result in run_group(group, args.quick):
            results.append(result)
            print(
                f"{result.scenario}: {result.ratio_median:.3g}x (p25-p75 {result.ratio_p25:.3g}-{result.ratio_p75:.3g})"
                f" {_fmt_counts(result.counts)}",
                file=sys.stderr,
                flush=True,
            )
    elapsed = time.perf_counter() - started
    args.output.mkdir(parents=True, exist_ok=True)
    payload = {"machine": info, "quick": args.quick, "seconds": elapsed, "results": [r.as_dict() for r in results]}
    (args.output / "latest.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    table = markdown(info, results, elapsed)
    (args.output / "latest.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
