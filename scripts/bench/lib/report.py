"""Aggregate bench runs (median of N) and write report.json + report.md."""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Dict, List, Optional

MiB = 1 << 20
TARGETS = {"backup_throughput_ratio": 5.0, "restore_throughput_ratio": 2.0, "stored_ratio": 0.95,
           "peak_rss_mib": 100.0, "flat_growth": 1.25}
WHY = Path(__file__).resolve().parents[1] / "WHY.md"


def _median(xs: List[float]) -> Optional[float]:
    return statistics.median(xs) if xs else None


def summarize_runs(runs: List[Dict], data_bytes: int) -> Dict:
    ok = [r for r in runs if r.get("verified")]
    s: Dict = {"runs": len(runs), "verified_runs": len(ok),
               "errors": [r["error"][:500] for r in runs if r.get("error")]}
    if not ok:
        return s
    for phase in ("backup", "restore"):
        wall = _median([r[phase]["wall_s"] for r in ok])
        s[phase] = {
            "wall_s": wall,
            "wall_s_all": [round(r[phase]["wall_s"], 2) for r in ok],
            "throughput_mib_s": data_bytes / MiB / wall if wall else None,
            "cpu_s": _median([r[phase]["cpu_user_s"] + r[phase]["cpu_sys_s"] for r in ok]),
            "db_server_cpu_s": _median([r[phase]["server_cpu_s"].get("db", 0) for r in ok]),
            "s3_server_cpu_s": _median([r[phase]["server_cpu_s"].get("s3", 0) for r in ok]),
            "foreign_cpu_s_max": max(r[phase].get("foreign_cpu_s", 0) for r in ok),
            "peak_tree_rss_mib": max(r[phase]["peak_tree_rss"] for r in ok) / MiB,
            "peak_tree_rss_mib_median": _median([r[phase]["peak_tree_rss"] / MiB for r in ok]),
            "peak_breakdown_mib": {k: round(v / MiB, 1) for k, v in
                                   max(ok, key=lambda r: r[phase]["peak_tree_rss"])[phase]["peak_breakdown"].items()},
        }
    s["stored_bytes"] = _median([r["stored_bytes"] for r in ok])
    return s


def build_summary(results: Dict) -> Dict:
    summary: Dict = {}
    for engine, eng in results["engines"].items():
        per_size: Dict = {}
        for label, entry in eng["sizes"].items():
            pipes = {name: summarize_runs(runs, entry["data_bytes"]) for name, runs in entry["pipelines"].items()}
            ratios: Dict = {}
            ref = pipes.get("reference", {})
            for name, ours in pipes.items():
                if name != "reference" and "backup" in ref and "backup" in ours:
                    ratios[name] = {
                        "backup_throughput_ratio": ref["backup"]["wall_s"] / ours["backup"]["wall_s"],
                        "restore_throughput_ratio": ref["restore"]["wall_s"] / ours["restore"]["wall_s"],
                        "stored_ratio": ours["stored_bytes"] / ref["stored_bytes"],
                        "peak_rss_mib": max(ours["backup"]["peak_tree_rss_mib"], ours["restore"]["peak_tree_rss_mib"]),
                    }
            exps = {}
            for name, e in (entry.get("experiments") or {}).items():
                exps[name] = {"label": e["label"], **summarize_runs([e["result"]], entry["data_bytes"])}
            per_size[label] = {"data_bytes": entry["data_bytes"], "db_bytes_on_disk": entry.get("db_bytes_on_disk"),
                               "pipelines": pipes, "ratios": ratios, "experiments": exps}
        labels = list(per_size)
        flat: Dict = {}
        if len(labels) == 2:
            for name in per_size[labels[-1]]["ratios"]:
                if all(name in per_size[lb]["ratios"] for lb in labels):
                    small, big = (per_size[lb]["ratios"][name]["peak_rss_mib"] for lb in labels)
                    flat[name] = {"small_mib": small, "big_mib": big, "growth": big / small if small else None}
        summary[engine] = {"sizes": per_size, "memory_flatness": flat}
    return summary


def verdicts(engine_summary: Dict, big_label: str, name: str) -> Dict[str, Optional[bool]]:
    r = (engine_summary["sizes"].get(big_label, {}).get("ratios") or {}).get(name) or {}
    flat = (engine_summary.get("memory_flatness") or {}).get(name) or {}
    if not r:
        return {}
    return {
        "backup >= 5x": r["backup_throughput_ratio"] >= TARGETS["backup_throughput_ratio"],
        "restore >= 2x": r["restore_throughput_ratio"] >= TARGETS["restore_throughput_ratio"],
        "stored <= 0.95x": r["stored_ratio"] <= TARGETS["stored_ratio"],
        "peak < 100 MiB": max(flat.get("small_mib") or 0, flat.get("big_mib") or r["peak_rss_mib"]) < TARGETS["peak_rss_mib"],
        "memory flat (growth <= 1.25x over 4x data)": (flat.get("growth") or 99) <= TARGETS["flat_growth"],
    }


def cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def fmt(x: Optional[float], nd: int = 1) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def table(results: Dict, summary: Dict) -> str:
    lines = ["| engine | size | pipeline | backup s | backup MiB/s | restore s | restore MiB/s | stored MiB | "
             "client CPU s (b/r) | peak tree RSS MiB (b/r) | others' CPU s, worst run (b/r) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for engine, es in summary.items():
        for label, sz in es["sizes"].items():
            for name, p in sz["pipelines"].items():
                if "backup" not in p:
                    lines.append(f"| {engine} | {label} | {name} | failed: {cell('; '.join(p['errors'])[:300])} |||||||| |")
                    continue
                b, r = p["backup"], p["restore"]
                lines.append(
                    f"| {engine} | {label} | {name} | {fmt(b['wall_s'])} | {fmt(b['throughput_mib_s'])} | {fmt(r['wall_s'])} | "
                    f"{fmt(r['throughput_mib_s'])} | {fmt(p['stored_bytes'] / MiB)} | {fmt(b['cpu_s'])} / {fmt(r['cpu_s'])} | "
                    f"{fmt(b['peak_tree_rss_mib'])} / {fmt(r['peak_tree_rss_mib'])} | "
                    f"{fmt(b.get('foreign_cpu_s_max'))} / {fmt(r.get('foreign_cpu_s_max'))} |")
    return "\n".join(lines)


def ratio_table(summary: Dict) -> str:
    lines = ["| engine | size | pipeline | backup speed-up (>= 5x) | restore speed-up (>= 2x) | stored bytes (<= 0.95x) | "
             "peak MiB (< 100) |", "|---|---|---|---:|---:|---:|---:|"]
    for engine, es in summary.items():
        for label, sz in es["sizes"].items():
            for name, r in sz["ratios"].items():
                lines.append(f"| {engine} | {label} | {name} | {fmt(r['backup_throughput_ratio'], 2)}x | "
                             f"{fmt(r['restore_throughput_ratio'], 2)}x | {fmt(r['stored_ratio'], 3)}x | {fmt(r['peak_rss_mib'])} |")
    return "\n".join(lines)


def write_reports(results: Dict, out: Path) -> str:
    summary = build_summary(results)
    results = dict(results)
    results["summary"] = summary
    (out / "report.json").write_text(json.dumps(results, indent=1, default=str))
    sizes = results.get("sizes", [])
    big_label = None
    md = ["# dbtier bench", "",
          f"Started {results.get('started')}; machine: {results['machine'].get('cores')} cores, "
          f"{results['machine'].get('cpu', '?')}. Each figure is the median of {results.get('runs')} runs; peak memory "
          "is the highest of the runs. Sizes are the generated row data; throughput is that size over wall time. "
          "Every restore was checked table by table (row count + checksum of every row) against the source "
          "before its time was counted. The machine is shared: before each phase the bench waits (up to 2 min) "
          "until other processes leave it idle, and the last column shows the CPU others still used during the phase.", "", "## Ratios against the reference", "", ratio_table(summary), ""]
    for engine, es in summary.items():
        labels = list(es["sizes"])
        big_label = labels[-1] if labels else None
        for name in (es["sizes"][big_label]["ratios"] if big_label else {}):
            v = verdicts(es, big_label, name)
            if v:
                md.append(f"- **{engine} {big_label} {name}**: " +
                          ", ".join(f"{k}: {'met' if ok else 'NOT met'}" for k, ok in v.items()))
            flat = (es.get("memory_flatness") or {}).get(name)
            if flat:
                md.append(f"  - peak memory {fmt(flat['small_mib'])} MiB at {labels[0]} -> {fmt(flat['big_mib'])} MiB at "
                          f"{labels[-1]} (x{fmt(flat['growth'], 2)} for 4x the data)")
    md += ["", "## All figures", "", table(results, summary), ""]
    md += ["Peak memory breakdown at the larger size (MiB, summed by process name), and the database server's CPU:", ""]
    for engine, es in summary.items():
        labels = list(es["sizes"])
        if not labels:
            continue
        p = es["sizes"][labels[-1]]["pipelines"]
        for name in p:
            if "backup" in p[name]:
                md.append(f"- {engine} {name} backup: {p[name]['backup']['peak_breakdown_mib']}; restore: "
                          f"{p[name]['restore']['peak_breakdown_mib']}; DB server CPU s backup/restore "
                          f"{fmt(p[name]['backup']['db_server_cpu_s'])}/{fmt(p[name]['restore']['db_server_cpu_s'])}")
    exp_lines = []
    for engine, es in summary.items():
        for label, sz in es["sizes"].items():
            for name, e in sz["experiments"].items():
                if "backup" not in e:
                    exp_lines.append(f"| {engine} | {label} | {cell(name + ': ' + e['label'])} | failed: {cell('; '.join(e['errors'])[:200])} |||||")
                    continue
                exp_lines.append(
                    f"| {engine} | {label} | {cell(name + ': ' + e['label'])} | {fmt(e['backup']['wall_s'])} | {fmt(e['restore']['wall_s'])} | "
                    f"{fmt(e['stored_bytes'] / MiB)} | {fmt(e['backup']['peak_tree_rss_mib'])} | {fmt(e['restore']['peak_tree_rss_mib'])} |")
    md += ["", "## What was tried and why the winner won", ""]
    if WHY.exists():
        md += [WHY.read_text().strip(), ""]
    if exp_lines:
        md += ["Experiments of this run (one run each):", "",
               "| engine | size | variant | backup s | restore s | stored MiB | backup peak MiB | restore peak MiB |",
               "|---|---|---|---:|---:|---:|---:|---:|", *exp_lines, ""]
    md += ["", "## Pipelines", ""]
    for engine, eng in results["engines"].items():
        for name, label in eng["pipelines"].items():
            md.append(f"- {engine} **{name}**: {label}")
        md.append(f"- {engine} server: {eng.get('server_version')}")
    text = "\n".join(md) + "\n"
    (out / "report.md").write_text(text)
    return ratio_table(summary)
