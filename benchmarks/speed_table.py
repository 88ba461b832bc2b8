"""The README's speed table per CPU class, built from ``edge-rppg bench --json`` files: one row per (CPU class,
runtime, precision), the figures beside the machine they came from. Latency is only comparable within one run,
so each row gives the p50 and the speed-up over PyTorch eager measured in that same run.

    edge-rppg bench --runtime all --precision fp32 --precision int8 --json runs/bench-$(hostname).json
    python -m benchmarks.speed_table benchmarks/results/bench-*.json

The JSONs behind the README's table are kept in ``benchmarks/results/``, one per machine measured.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HEADER = (
    "| CPU class | CPU | threads | runtime | precision | p50 ms | × PyTorch | BVP r | ΔHR bpm | verdict | versions |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
)


def rows(report: dict[str, Any]) -> list[str]:
    """One Markdown row per timed result of one bench JSON."""
    machine = report["machine"]
    versions = machine.get("runtime_versions", {})
    out = []
    for r in report["results"]:
        if r["status"] == "failed":  # a build its own verification refused: no timing, and the reason
            out.append(
                f"| {machine.get('isa_class', '?')} | {machine['cpu']} | {machine.get('threads', report['threads'])} "
                f"| {r['runtime']} | {r['precision']} | – | – | – | – | fail: {r['reason'].split(';')[0]} "
                f"| {versions.get(r['runtime']) or '–'} |"
            )
        if r["status"] != "ok" or r["latency_ms"] is None:
            continue
        agreement = r.get("agreement") or {}
        r_cell = f"{agreement['bvp_pearson']:.5f}" if agreement.get("bvp_pearson") is not None else "–"
        hr_cell = f"{agreement['hr_abs_diff_bpm']:.3f}" if agreement.get("hr_abs_diff_bpm") is not None else "–"
        speedup = r.get("speedup_vs_reference")
        out.append(
            f"| {machine.get('isa_class', '?')} | {machine['cpu']} | {machine.get('threads', report['threads'])} "
            f"| {r['runtime']} | {r['precision']} | {r['latency_ms']['p50']:.1f} "
            f"| {f'{speedup:.2f}' if speedup else '–'} | {r_cell} | {hr_cell} | {r.get('verdict') or '–'} "
            f"| {versions.get(r['runtime']) or '–'} |"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="+", type=Path, help="bench --json files, one per machine")
    args = ap.parse_args()
    reports = [json.loads(p.read_text()) for p in args.reports]
    reports.sort(key=lambda rep: (rep["machine"].get("isa_class", "?"), rep["machine"]["cpu"]))
    print("\n".join([*HEADER, *(row for rep in reports for row in rows(rep))]))


if __name__ == "__main__":
    main()
