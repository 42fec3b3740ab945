"""Offline gene-set enrichment: GMT loading, gene-name normalisation, group tests.

The test is the hypergeometric over-representation test of ``gseapy.enrich``
run on local gene sets (MSigDB mouse GMTs under ``dataset/genesets/``), with the
background (universe) = all genes of the dataset. Gene names of the data are
normalised to mouse symbols through an alias table kept as a data file
(``dataset/annotation/gene_aliases.csv``); names that reach no gene-set symbol
are reported, never silently dropped.

Multiple testing: Benjamini-Hochberg within each collection over every gene set
that was testable (size within ``[min_set_size, max_set_size]`` in the full
collection and at least one background gene), a set without overlap counting
with p = 1. gseapy's own adjusted p corrects only over sets with an overlap,
which is less conservative with a small panel.
"""
from __future__ import annotations

import gzip
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from step.errors import InputError

log = logging.getLogger(__name__)

RESULT_COLUMNS = ["term", "collection", "overlap", "p", "adjusted_p", "genes",
                  "odds_ratio", "n_overlap", "set_size_in_background"]

# MSigDB file-name prefixes -> readable collection labels (fallback: the file stem).
_COLLECTION_LABELS = {
    "mh.all": "Hallmark",
    "m5.go.bp": "GO_BP",
    "m2.cp.reactome": "Reactome",
    "m2.cp.wikipathways": "WikiPathways",
}

REPO_ROOT = Path(__file__).resolve().parents[2]


def resolve_path(path: str | Path) -> Path:
    """A relative path as given if it exists from the working directory, else from the repo root."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return REPO_ROOT / p


# --------------------------------------------------------------------------- GMT

def load_gmt(path: str | Path) -> dict[str, list[str]]:
    """Read a GMT file (plain or gzip): one set a line, ``name<TAB>description<TAB>genes...``.

    Returns
    -------
    dict term -> list of gene symbols (order kept, duplicates removed).
    """
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    sets: dict[str, list[str]] = {}
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                parts = line.split("\t")
                if len(parts) < 3:
                    raise InputError(
                        f"{path}: line {lineno} is not a GMT record (expected a tab-separated "
                        f"set name, description and at least one gene; got {len(parts)} field(s))."
                    )
                genes = dict.fromkeys(map(str.strip, parts[2:]))  # first occurrences, in order
                genes.pop("", None)
                sets[parts[0].strip()] = list(genes)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise InputError(f"{path}: cannot read the gene-set file ({exc}).") from None
    if not sets:
        raise InputError(f"{path}: the GMT file holds no gene set.")
    return sets


def collection_label(path: str | Path) -> str:
    """``mh.all.2023.1.Mm.symbols.gmt`` -> ``Hallmark``; unknown files -> their stem."""
    name = Path(path).name
    for prefix, label in _COLLECTION_LABELS.items():
        if name.startswith(prefix + "."):
            return label
    return re.sub(r"(\.symbols)?\.gmt(\.gz)?$", "", name)


def load_collections(genesets_dir: str | Path) -> dict[str, dict[str, list[str]]]:
    """Every ``*.gmt`` / ``*.gmt.gz`` in a folder, keyed by collection label (sorted by label)."""
    d = resolve_path(genesets_dir)
    if not d.is_dir():
        raise InputError(
            f"{d}: gene-set folder not found (analysis.genesets_dir). It should hold the "
            "MSigDB mouse GMT files (see dataset/genesets/README.md)."
        )
    files = sorted(list(d.glob("*.gmt")) + list(d.glob("*.gmt.gz")))
    if not files:
        raise InputError(f"{d}: no .gmt or .gmt.gz file in the gene-set folder (analysis.genesets_dir).")
    out: dict[str, dict[str, list[str]]] = {}
    for f in files:
        label = collection_label(f)
        if label in out:
            raise InputError(f"{f}: a second file for collection '{label}' in {d}; keep one.")
        out[label] = load_gmt(f)
        log.debug("gene sets: %s: %d sets from %s", label, len(out[label]), f.name)
    return dict(sorted(out.items()))


def universe(collections: Mapping[str, Mapping[str, Sequence[str]]]) -> set[str]:
    """All gene symbols of all collections."""
    u: set[str] = set()
    for sets in collections.values():
        for genes in sets.values():
            u.update(genes)
    return u


# --------------------------------------------------------------------------- aliases

def load_aliases(path: str | Path) -> dict[str, str]:
    """Read the alias table (CSV with columns ``alias, symbol``; other columns ignored).

    Returns
    -------
    dict casefolded alias -> symbol. Two rows giving one alias different symbols are an error.
    """
    p = resolve_path(path)
    if not p.is_file():
        raise InputError(f"{p}: alias table not found (analysis.aliases); expected a CSV with columns alias,symbol.")
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not a readable CSV ({exc}).") from None
    missing = [c for c in ("alias", "symbol") if c not in df.columns]
    if missing:
        raise InputError(f"{p}: missing column(s) {', '.join(missing)}; the alias table needs columns alias,symbol.")
    table: dict[str, str] = {}
    for i, (alias, symbol) in enumerate(zip(df["alias"], df["symbol"]), start=2):
        alias, symbol = alias.strip(), symbol.strip()
        if not alias or not symbol:
            raise InputError(f"{p}: row {i} has an empty alias or symbol; every row must give both.")
        key = alias.casefold()
        if key in table and table[key] != symbol:
            raise InputError(
                f"{p}: row {i}: alias '{alias}' maps to '{symbol}' but an earlier row maps it to "
                f"'{table[key]}' (aliases are matched case-insensitively); keep one."
            )
        table[key] = symbol
    return table


def _cleaned(name: str) -> str:
    """Name without a parenthesised/PMID suffix: ``GUCY1A2  sGC(...) (PMID 1)`` -> ``GUCY1A2``."""
    return re.split(r"\s{2,}|\s*\(", name.strip(), maxsplit=1)[0].strip()


def _mouse_case(s: str) -> str:
    return s[:1].upper() + s[1:].lower()


def normalise_genes(genes: Sequence[str], symbols: set[str], aliases: Mapping[str, str],
                    display: Sequence[str] | None = None) -> pd.DataFrame:
    """Map dataset gene names to gene-set symbols.

    For each candidate spelling (the name, its display name, the name without a
    parenthesised suffix): an alias-table hit replaces it by its symbol; then the
    spelling is accepted if it is a gene-set symbol as is, or after mouse case
    (``ABCA3`` -> ``Abca3``).

    Parameters
    ----------
    genes : names as in the input file ``[N]``.
    symbols : the gene-set universe.
    aliases : casefolded alias -> symbol (:func:`load_aliases`).
    display : cleaned display names ``[N]`` (optional).

    Returns
    -------
    DataFrame ``[N]`` with columns gene, display, symbol, mapped (bool), method
    (``exact``, ``case``, ``alias``, ``alias+case`` or ``unmapped``). Unmapped genes
    keep their cleaned name as ``symbol`` so they still count in the background.
    """
    rows = []
    disp = list(display) if display is not None else [_cleaned(g) for g in genes]
    for g, d in zip(genes, disp):
        candidates = list(dict.fromkeys(c for c in (g.strip(), str(d).strip(), _cleaned(g)) if c))
        found = None
        for c in candidates:
            via_alias = c.casefold() in aliases
            s = aliases[c.casefold()] if via_alias else c
            if s in symbols:
                found = (s, "alias" if via_alias else "exact")
            elif _mouse_case(s) in symbols:
                found = (_mouse_case(s), "alias+case" if via_alias else "case")
            if found:
                break
        if found:
            rows.append((g, d, found[0], True, found[1]))
        else:
            rows.append((g, d, _cleaned(g) or g, False, "unmapped"))
    return pd.DataFrame(rows, columns=["gene", "display", "symbol", "mapped", "method"])


# --------------------------------------------------------------------------- tests

def filter_sets(sets: Mapping[str, Sequence[str]], background: set[str],
                min_size: int, max_size: int) -> dict[str, list[str]]:
    """Sets whose full size is within ``[min_size, max_size]`` and that hold >= 1 background gene.

    The size rule uses the set's size in the collection (its biological size), not
    its overlap with a small panel, which would leave almost nothing testable.
    """
    out = {}
    for term, genes in sets.items():
        if not (min_size <= len(genes) <= max_size):
            continue
        if any(g in background for g in genes):
            out[term] = list(genes)
    return out


def bh_adjust(p: np.ndarray, n_tests: int | None = None) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values; ``n_tests`` >= len(p) counts untested-as-1 extras."""
    p = np.asarray(p, dtype=float)
    m = len(p) if n_tests is None else int(n_tests)
    if len(p) == 0:
        return p
    if m < len(p):
        raise ValueError("n_tests must be >= the number of p-values")
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, len(p) + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(adj)
    out[order] = np.clip(adj, 0.0, 1.0)
    return out


def testable_sets(background: Iterable[str], collections: Mapping[str, Mapping[str, Sequence[str]]],
                  min_size: int = 5, max_size: int = 500) -> dict[str, dict[str, list[str]]]:
    """:func:`filter_sets` of every collection: label -> the sets a group of this background is
    tested against (the same for every group; compute once, pass to :func:`enrich_group`)."""
    bg = set(background)
    return {label: filter_sets(sets, bg, min_size, max_size) for label, sets in collections.items()}


def enrich_group(query: Iterable[str], background: Iterable[str],
                 collections: Mapping[str, Mapping[str, Sequence[str]]],
                 min_size: int = 5, max_size: int = 500,
                 testable: Mapping[str, Mapping[str, Sequence[str]]] | None = None
                 ) -> tuple[pd.DataFrame, dict[str, int]]:
    """Hypergeometric test (``gseapy.enrich``) of one gene group against each collection.

    Parameters
    ----------
    query : symbols of the group (those outside the background are ignored).
    background : symbols of all dataset genes (the universe, N = its size).
    collections : label -> {term: genes}.
    testable : :func:`testable_sets` of this background, collections and sizes when the caller
        tests several groups (else computed here).

    Returns
    -------
    (table, n_tested): table with :data:`RESULT_COLUMNS`, one row per term with
    overlap >= 1, sorted by p; n_tested: label -> number of sets tested (the BH
    denominator).
    """
    import gseapy

    bg = set(background)
    q = sorted(set(query) & bg)
    frames = []
    n_tested: dict[str, int] = {}
    if testable is None:
        testable = testable_sets(bg, collections, min_size, max_size)
    for label in collections:
        sets = testable[label]
        n_tested[label] = len(sets)
        if not q or not sets:
            continue
        enr = gseapy.enrich(gene_list=q, gene_sets=dict(sets), background=sorted(bg),
                            outdir=None, no_plot=True, verbose=False)
        res = getattr(enr, "res2d", None)
        if res is None or len(res) == 0:
            continue
        hits = res["Overlap"].str.split("/", expand=True).astype(int)
        df = pd.DataFrame({
            "term": res["Term"].astype(str),
            "collection": label,
            "overlap": res["Overlap"].astype(str),
            "p": res["P-value"].astype(float).clip(0.0, 1.0),
            "genes": res["Genes"].astype(str).str.split(";").map(lambda g: ";".join(sorted(g))),
            "odds_ratio": res["Odds Ratio"].astype(float),
            "n_overlap": hits[0].to_numpy(),
            "set_size_in_background": hits[1].to_numpy(),
        })
        df["adjusted_p"] = bh_adjust(df["p"].to_numpy(), n_tested[label])
        frames.append(df)
    if frames:
        table = pd.concat(frames, ignore_index=True)
    else:
        table = pd.DataFrame({c: pd.Series(dtype=float if c in ("p", "adjusted_p", "odds_ratio") else object)
                              for c in RESULT_COLUMNS})
    table = table[RESULT_COLUMNS].sort_values(["p", "collection", "term"], kind="mergesort")
    return table.reset_index(drop=True), n_tested


def enrich_online(query: Sequence[str], background: Sequence[str],
                  libraries: Sequence[str] = ("GO_Biological_Process_2023", "Reactome_2022",
                                              "WikiPathways_2019_Mouse", "MSigDB_Hallmark_2020"),
                  ) -> pd.DataFrame:
    """Enrichr web service through ``gseapy.enrichr`` (needs a network; never used by default)."""
    import gseapy

    enr = gseapy.enrichr(gene_list=list(query), gene_sets=list(libraries), organism="mouse",
                         background=list(background), outdir=None, no_plot=True)
    res = getattr(enr, "res2d", None)
    if res is None or len(res) == 0:
        return pd.DataFrame(columns=RESULT_COLUMNS[:6])
    return pd.DataFrame({
        "term": res["Term"], "collection": res["Gene_set"], "overlap": res["Overlap"],
        "p": res["P-value"].astype(float), "adjusted_p": res["Adjusted P-value"].astype(float),
        "genes": res["Genes"],
    }).sort_values("p").reset_index(drop=True)


@dataclass
class GroupResult:
    """Enrichment of one gene group."""

    name: str
    genes: list[str]  # dataset names
    query: list[str]  # the group's mapped symbols (the only possible hits)
    table: pd.DataFrame
    n_tested: dict[str, int]
    n_group: int  # group size in the test: distinct symbols, unmapped genes included (as in the background)

    def significant(self, fdr: float) -> pd.DataFrame:
        return self.table[self.table["adjusted_p"] < fdr]
