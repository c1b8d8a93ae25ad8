#!/usr/bin/env python3
"""A crate's module import graph, read from its `crate::` paths outside
comments, and every import circle in it (a strongly connected component of
more than one top-level module).

    scripts/import_graph.py signals/src          # the core
    scripts/import_graph.py signals-celery/src   # the Celery crate

Exits with 1 if there is a circle, so it can gate a check.
"""
import re, sys, pathlib
root = pathlib.Path(sys.argv[1])
mods = {}
for f in sorted(root.rglob("*.rs")):
    rel = f.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib"): parts = parts[:-1]
    name = "::".join(parts) or "lib"
    # Doc comments and comments name modules in links, not imports.
    mods[name] = "\n".join(
        line for line in f.read_text().splitlines() if not line.lstrip().startswith("//")
    )
top = lambda m: m.split("::")[0]
def targets_of(text):
    """Top-level module names after each `crate::`, through nested braces."""
    out = []
    for m in re.finditer(r"crate::\s*", text):
        i = m.end()
        if text[i:i+1] != "{":
            w = re.match(r"[a-z_][a-z_0-9]*", text[i:])
            if w: out.append(w.group(0))
            continue
        depth, j, start = 0, i, i + 1
        while j < len(text):
            if text[j] == "{": depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0: break
            j += 1
        body, level0, d = text[start:j], [], 0
        cur = ""
        for ch in body:
            if ch == "{": d += 1
            elif ch == "}": d -= 1
            if d == 0 and ch == ",": level0.append(cur); cur = ""
            elif d == 0 or ch not in "{}": cur += ch if d == 0 else ""
        level0.append(cur)
        for item in level0:
            w = re.match(r"\s*([a-z_][a-z_0-9]*)", item)
            if w: out.append(w.group(1))
    return out
edges = {}
for name, text in mods.items():
    src = top(name)
    for t in targets_of(text):
            if t != src and (t in {top(k) for k in mods}):
                edges.setdefault(src, set()).add(t)
nodes = sorted({top(k) for k in mods})
for n in nodes:
    print(f"{n:12} -> {', '.join(sorted(edges.get(n, ())))}")
# Tarjan
idx, low, on, st, sccs, c = {}, {}, set(), [], [], [0]
def visit(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in edges.get(v, ()):
        if w not in idx: visit(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(sorted(comp))
sys.setrecursionlimit(10000)
for n in nodes:
    if n not in idx: visit(n)
print("circles:", sccs if sccs else "none")
sys.exit(1 if sccs else 0)
