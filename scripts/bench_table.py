#!/usr/bin/env python3
"""Print criterion results (target/criterion) as Markdown tables: median ns."""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
rows = {}
for est in root.glob("*/*/*/new/estimates.json"):
    group, bench, param = est.parts[-5], est.parts[-4], est.parts[-3]
    rows.setdefault(group, {}).setdefault(bench, {})[param] = json.loads(est.read_text())["median"]["point_estimate"]
for est in root.glob("*/*/new/estimates.json"):
    group, bench = est.parts[-4], est.parts[-3]
    if (est.parent.parent / "new").exists() and not any(p.is_dir() and (p / "new").exists() for p in est.parent.parent.iterdir() if p.name not in ("new", "base", "change", "report")):
        rows.setdefault(group, {}).setdefault(bench, {})["-"] = json.loads(est.read_text())["median"]["point_estimate"]
for group, benches in sorted(rows.items()):
    params = sorted({p for b in benches.values() for p in b}, key=lambda p: (not p.isdigit(), int(p) if p.isdigit() else p))
    print(f"\n### {group} (median ns)\n")
    print("| bench | " + " | ".join(f"N={p}" if p.isdigit() else p for p in params) + " |")
    print("|---|" + "---:|" * len(params))
    for bench, vals in sorted(benches.items()):
        print(f"| {bench} | " + " | ".join(f"{vals[p]:.1f}" if p in vals else "" for p in params) + " |")
