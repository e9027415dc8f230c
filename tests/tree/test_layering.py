"""Dependencies point one way: harness folders include only the folders before them (core < store < run < plot <
analysis < cli); kernels include only harness/core; nothing in harness/ includes a kernels/ header (the registry
expands kernels/kernels.def, the table, and nothing else). No include cycles between modules."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAYERS = ["core", "store", "run", "plot", "analysis", "cli"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def includes(path):
    return INCLUDE.findall(path.read_text())


def sources(folder):
    return sorted(p for p in (ROOT / folder).rglob("*") if p.suffix in (".c", ".h", ".cc", ".def"))


def test_harness_layers_point_down():
    bad = []
    for path in sources("harness"):
        layer = path.relative_to(ROOT / "harness").parts[0]
        allowed = set(LAYERS[:LAYERS.index(layer) + 1])
        for inc in includes(path):
            top = inc.split("/")[0]
            if inc == "kernels.def" and path.name == "registry.c":
                continue
            if "/" not in inc or top not in allowed:
                bad.append(f"{path.relative_to(ROOT)} includes \"{inc}\" ({layer} may include {sorted(allowed)})")
    assert not bad, "\n".join(bad)


def test_kernels_depend_on_core_only():
    bad = []
    for path in sources("kernels"):
        family = path.relative_to(ROOT / "kernels").parts[0]
        for inc in includes(path):
            top = inc.split("/")[0]
            if top in LAYERS and top != "core":
                bad.append(f"{path.relative_to(ROOT)} includes \"{inc}\" (kernels may include core/ only)")
    assert not bad, "\n".join(bad)


def test_no_cycles_between_modules():
    """A module is a source's path without its extension (harness/store/rows); A -> B when A.c or A.h includes
    B.h. The graph must be acyclic."""
    graph = {}
    for path in sources("harness") + sources("kernels"):
        mod = str(path.relative_to(ROOT).with_suffix(""))
        for inc in includes(path):
            base = "harness" if inc.split("/")[0] in LAYERS else "kernels"
            target = str((pathlib.Path(base) / inc).with_suffix(""))
            if target != mod:
                graph.setdefault(mod, set()).add(target)
    state = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError("include cycle: " + " -> ".join(stack + [node, nxt]))
            if not state.get(nxt):
                visit(nxt, stack + [node])
        state[node] = 2

    for node in list(graph):
        if not state.get(node):
            visit(node, [])


def test_the_check_catches_a_wrong_include(tmp_path):
    """The scanner sees an upward include (so the layering test can fail)."""
    f = tmp_path / "x.c"
    f.write_text('#include "cli/args.h"\n#include <stdio.h>\n')
    assert includes(f) == ["cli/args.h"]
