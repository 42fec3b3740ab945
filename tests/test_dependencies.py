"""The declared dependencies match the imports: every distribution imported by the package code
is declared in pyproject.toml and environment.yml, and nothing is declared that nothing imports."""
from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CODE = ["step", "raw_data_conversion", "mrna", "mirna", "step_losses.py",
        "create_graph_and_embedding_STEPmr.py", "create_graph_and_embedding_STEPmi.py"]
LOCAL = {"step", "raw_data_conversion", "mrna", "mirna", "step_losses", "create_graph_and_embedding_STEPmr",
         "create_graph_and_embedding_STEPmi"}
# declared for a reason other than an import in the package code
NOT_IMPORTED_OK = {"snakemake": "runs the workflow (make workflow, a command line tool)",
                   "pytest": "the test extra", "psutil": "the genome-scale benchmark (benchmarks/bench_scale.py)",
                   "pyarrow": "hictkpy's pixel tables (hictkpy[pyarrow] in pyproject.toml)"}
# optional extras imported inside a guarded import (the cluster path)
OPTIONAL = {"psycopg2", "psycopg2-binary", "snakemake-executor-plugin-slurm",
            "node2vec"}  # embedding.backend: node2vec, the extra node2vec (the Makefile installs it --no-deps)
CONDA_TO_PIP = {"arch-py": "arch", "pytorch": "torch", "python": None, "pip": None}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_modules() -> set[str]:
    mods: set[str] = set()
    files = []
    for c in CODE:
        p = ROOT / c
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                mods |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods.add(node.module.split(".")[0])
    return {m for m in mods if m not in LOCAL and m not in sys.stdlib_module_names and m != "__future__"}


def _imported_distributions() -> set[str]:
    dist = packages_distributions()
    out = set()
    for m in _imported_modules():
        names = dist.get(m)
        assert names, f"module {m!r} is imported but no installed distribution provides it"
        out.add(_norm(names[0]))
    return out


def _pyproject() -> set[str]:
    text = (ROOT / "pyproject.toml").read_text()
    block = text[text.index("dependencies = ["):]
    block = block[:block.index("\n]")]
    return {_norm(re.split(r"[<>=!~\[ ]", d.strip().strip('",'))[0]) for d in re.findall(r'"([^"]+)"', block)}


def _environment() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for d in env["dependencies"]:
        items = d["pip"] if isinstance(d, dict) else [d]
        for it in items:
            n = re.split(r"[<>=!~ ]", str(it))[0]
            n = CONDA_TO_PIP.get(n, n)
            if n:
                names.add(_norm(n))
    return names


def test_every_imported_distribution_is_declared():
    imported = _imported_distributions()
    for where, declared in (("pyproject.toml", _pyproject()), ("environment.yml", _environment())):
        missing = sorted(imported - declared - {_norm(o) for o in OPTIONAL})
        assert not missing, f"{where} lacks {missing}, imported by the package code"


def test_nothing_is_declared_that_nothing_imports():
    imported = _imported_distributions()
    for where, declared in (("pyproject.toml", _pyproject()), ("environment.yml", _environment())):
        unused = sorted(declared - imported - {_norm(k) for k in NOT_IMPORTED_OK})
        assert not unused, f"{where} declares {unused}, which the package code never imports"


def test_no_import_circle_not_even_through_function_level_imports():
    """Every ``import`` / ``from ... import`` of a project module, at any depth of a function, is an
    edge; the graph of step/ and raw_data_conversion/ has no cycle (README "Code layout")."""
    import ast

    import networkx as nx

    root = Path(__file__).resolve().parents[1]
    mods = {}
    for pkg in ("step", "raw_data_conversion"):
        for p in (root / pkg).rglob("*.py"):
            name = ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            mods[name] = p
    G = nx.DiGraph()
    for m, p in mods.items():
        for node in ast.walk(ast.parse(p.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            G.add_edges_from((m, n) for n in names if n in mods and n != m)
    cycles = list(nx.simple_cycles(G))
    assert not cycles, [" -> ".join(c) for c in cycles[:5]]
