"""Hi-C contact files of the genome-scale conversion, whatever their format: ``.cool``, ``.mcool``
or ``.hic``, opened as ``cooler.Cooler`` objects that cooltools' functions accept.

* ``.cool`` / ``.mcool::resolutions/N`` / ``.mcool`` + ``bin_size``: read in place (``cooler``).
* ``.hic`` (Juicer) and cooler columns of *divisive* weights: read through ``hictkpy`` (one API for
  ``.hic``, ``.cool`` and ``.mcool``) and written, per chromosome and only up to the maximum pair
  distance, into a temporary ``.cool`` in the conversion's work folder (``cooler.create_cooler``),
  with the chosen normalisation stored as a multiplicative ``weight`` column (cooler's convention:
  balanced = count x w1 x w2; hictkpy converts ``.hic``'s divisive vectors).
* Compartments need a coarser map (``compartment_bin_size``): the same ``.mcool`` / ``.hic`` level
  when the file has one, else the working map coarsened by ``cooler.coarsen_cooler``; a coarse map
  without the chosen weights is ICE-balanced (``cooler.balance_cooler``) in the work folder. The
  user's files are never written to.

Chromosome names are harmonised explicitly (:func:`canonical_chrom`): ``chr1`` / ``1``,
``chrX`` / ``X``, ``chrM`` / ``MT`` / ``chrMito``; every renaming is logged by the caller.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from raw_data_conversion.genome.common import existing
from step.errors import InputError

log = logging.getLogger("raw_data_conversion.genome")

#: ``--normalization`` aliases -> the name a file uses
_COOLER_ALIASES = {"ice": "weight", "weight": "weight"}
_HIC_AUTO_ORDER = ("KR", "SCALE", "VC_SQRT", "VC")
_MITO = {"m", "mt", "mito", "mitochondria", "mitochondrion"}


def canonical_chrom(name: Any) -> str:
    """One spelling for UCSC and Ensembl chromosome names: no ``chr`` prefix, mitochondria ``MT``."""
    s = str(name).strip()
    if s.lower().startswith("chr"):
        s = s[3:]
    return "MT" if s.lower() in _MITO else s


@dataclass
class ContactMaps:
    """The maps one conversion reads.

    Attributes
    ----------
    clr : ``cooler.Cooler`` at the working resolution (``bin_size`` bp).
    weight : multiplicative bin-weight column of ``clr`` to balance with, or ``None`` (raw counts).
    coarse : ``cooler.Cooler`` for compartments (may be ``clr`` itself).
    coarse_weight : weight column of ``coarse`` (compartments always use balanced data).
    names : canonical chromosome name -> the name in the contact file.
    meta : what was read and how (written to ``dataset.json``).
    """

    clr: Any
    weight: str | None
    coarse: Any
    coarse_weight: str
    names: dict[str, str]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def bin_size(self) -> int:
        return int(self.clr.binsize)


def contact_format(path: str | Path) -> str:
    """``"cool"``, ``"mcool"`` or ``"hic"`` from the file's content (extension as a fallback)."""
    import cooler

    p = str(path).split("::")[0]
    existing(p, "Hi-C contacts")
    try:
        if cooler.fileops.is_multires_file(p):
            return "mcool"
        if cooler.fileops.is_cooler(p) or "::" in str(path):
            return "cool"
    except OSError as exc:  # h5py: an HDF5 file it cannot open (truncated, damaged)
        with open(p, "rb") as fh:
            hdf5 = fh.read(8) == b"\x89HDF\r\n\x1a\n"
        if hdf5:
            raise InputError(f"{p}: cannot read this HDF5 (.cool/.mcool) file; it looks damaged or truncated "
                             f"({exc}). Download or copy it again.") from None
    try:  # old coolers (format v2) lack the attribute is_cooler looks for but read fine
        cooler.Cooler(p)
        return "cool"
    except Exception:  # noqa: BLE001 - not a cooler: maybe a .hic
        pass
    try:  # imported only for .hic: hictkpy's logger warns on every later fork()
        import hictkpy
    except ImportError:
        raise InputError(f"{p}: not a cooler, and reading .hic files needs hictkpy (pip install hictkpy).") from None
    if hictkpy.is_hic(p):
        return "hic"
    raise InputError(f"{p}: not a Hi-C contact file this converter reads; expected .cool, .mcool or .hic "
                     f"(Juicer) contacts.")


def _levels(path: str, fmt: str) -> list[int]:
    """The file's resolutions; a file its library cannot read is an InputError naming it as damaged."""
    try:
        return _read_levels(path, fmt)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001  (hictkpy, cooler and h5py raise several kinds)
        raise InputError(f"{path}: cannot read this .{fmt} file; it looks damaged or truncated "
                         f"({type(exc).__name__}: {exc}). Download or copy it again.") from None


def _read_levels(path: str, fmt: str) -> list[int]:
    import cooler

    if fmt == "hic":
        import hictkpy

        return sorted(int(r) for r in hictkpy.MultiResFile(path).resolutions())
    if fmt == "mcool":
        return sorted(int(c.rstrip("/").rsplit("/", 1)[-1]) for c in cooler.fileops.list_coolers(path)
                      if c.rstrip("/").rsplit("/", 1)[-1].isdigit())
    return [int(cooler.Cooler(path).binsize)]


def _pick_level(uri: str, fmt: str, bin_size: int | None) -> int:
    path = uri.split("::")[0]
    levels = _levels(path, fmt)
    if bin_size is None:
        if len(levels) == 1:
            return levels[0]
        raise InputError(f"{path}: a multi-resolution file; choose one with --bin-size "
                         f"(resolutions: {', '.join(map(str, levels))}).")
    if bin_size not in levels:
        raise InputError(f"{path}: no resolution {bin_size:,} bp (has {', '.join(map(str, levels))}).")
    return bin_size


def _open_cooler(uri: str, bin_size: int | None):
    import cooler

    try:
        clr = cooler.Cooler(uri)
    except Exception as exc:  # cooler raises several types for bad files/URIs
        raise InputError(f"{uri}: not a readable cooler ({exc}); for .mcool give FILE.mcool::resolutions/<bin size> "
                         f"or --bin-size.") from None
    if clr.binsize is None:
        raise InputError(f"{uri}: a cooler with variable-size bins; expected fixed bins.")
    if bin_size is not None and clr.binsize != bin_size:
        raise InputError(f"{uri}: bin size {clr.binsize:,} bp but {bin_size:,} bp was expected (bin_size).")
    return clr


def _cooler_weight(clr, normalization: str, uri: str) -> tuple[str | None, bool]:
    """(column, divisive) of a cooler's bins for ``normalization`` (``auto``/``none``/``ICE``/a column)."""
    cols = [c for c in clr.bins().columns if c not in ("chrom", "start", "end")]
    norm = str(normalization)
    if norm.lower() == "none":
        return None, False
    if norm.lower() == "auto":
        if "weight" not in cols:
            log.info("%s: no 'weight' column; contacts are used unbalanced (normalization: none)", uri)
            return None, False
        name = "weight"
    else:
        name = _COOLER_ALIASES.get(norm.lower(), norm)
        if name not in cols:
            by_case = {c.lower(): c for c in cols}
            if name.lower() not in by_case:
                raise InputError(f"{uri}: no normalisation '{normalization}' (its bin columns: "
                                 f"{', '.join(cols) or 'none'}); use --normalization none, or balance the file "
                                 f"(cooler balance).")
            name = by_case[name.lower()]
    attrs = dict(clr.open("r")[f"bins/{name}"].attrs)
    return name, bool(attrs.get("divisive_weights", False))


def _hic_normalization(f, normalization: str, path: str) -> str | None:
    avail = [str(n) for n in f.avail_normalizations()]
    norm = str(normalization)
    if norm.lower() == "none":
        return None
    if norm.lower() == "auto":
        for n in _HIC_AUTO_ORDER:
            if n in avail:
                return n
        log.info("%s: no normalisation vectors; contacts are used unbalanced (normalization: none)", path)
        return None
    by_case = {n.lower(): n for n in avail}
    if norm.lower() in ("ice", "weight") and "weight" not in by_case and "ice" not in by_case:
        raise InputError(f"{path}: a .hic file has no ICE weights (its normalisations: {', '.join(avail) or 'none'}); "
                         f"KR is the .hic equivalent (--normalization KR).")
    if norm.lower() not in by_case:
        raise InputError(f"{path}: no normalisation '{normalization}' at this resolution (has "
                         f"{', '.join(avail) or 'none'}); use --normalization none or one of these.")
    return by_case[norm.lower()]


def _band_pixels(f, chroms: dict[str, int], resolution: int, max_bins: int | None, chunk_bins: int
                 ) -> Iterator[pd.DataFrame]:
    """Upper-triangle cis pixels ``(bin1_id, bin2_id, count)`` of a hictkpy file, sorted, chunked by rows."""
    offset = 0
    for name, size in chroms.items():
        n = -(-int(size) // resolution)
        for a in range(0, n, chunk_bins):
            b = min(n, a + chunk_bins)
            c = n if max_bins is None else min(n, b + max_bins)
            r1 = f"{name}:{a * resolution}-{min(size, b * resolution)}"
            r2 = f"{name}:{a * resolution}-{min(size, c * resolution)}"
            px = f.fetch(r1, r2, normalization="NONE", count_type="float").to_df()
            if px.empty:
                continue
            i = px["bin1_id"].to_numpy(np.int64)
            j = px["bin2_id"].to_numpy(np.int64)
            keep = (j >= i) & (i >= offset + a) & (i < offset + b)
            if max_bins is not None:
                keep &= (j - i) <= max_bins
            out = pd.DataFrame({"bin1_id": i[keep], "bin2_id": j[keep], "count": px["count"].to_numpy()[keep]})
            yield out.sort_values(["bin1_id", "bin2_id"], kind="stable")
        offset += n


def _materialise(path: str, resolution: int, norm: str | None, divisive: bool, out: Path,
                 max_bins: int | None, chunk_bins: int) -> tuple[Any, str | None]:
    """A band-limited cis copy of ``path`` at ``resolution`` as a temporary ``.cool`` (``weight`` multiplicative)."""
    import cooler
    import hictkpy

    f = hictkpy.File(path, resolution)
    chroms = {str(k): int(v) for k, v in f.chromosomes().items()}
    bins = f.bins().to_df()[["chrom", "start", "end"]].copy()
    bins["chrom"] = bins["chrom"].astype(str)
    weight = None
    if norm is not None:
        w = f.weights(norm, divisive=False)
        if w is None or len(w) != len(bins):
            raise InputError(f"{path}: normalisation '{norm}' has no weights for every bin at {resolution:,} bp.")
        w = np.asarray(w, dtype=float)
        w[~np.isfinite(w) | (w == 0)] = np.nan
        bins["weight"] = w
        weight = "weight"
    cooler.create_cooler(str(out), bins, _band_pixels(f, chroms, resolution, max_bins, chunk_bins),
                         dtypes={"count": np.float64}, ordered=True, symmetric_upper=True,
                         temp_dir=str(out.parent))
    log.info("%s: %s bp contacts%s copied (cis%s) to %s", path, f"{resolution:,}",
             f" with {norm}{' (divisive, inverted)' if divisive else ''} weights" if norm else "",
             "" if max_bins is None else f", up to {max_bins} bins apart", out.name)
    return cooler.Cooler(str(out)), weight


def _balanced_copy(clr, work: Path) -> Any:
    """``clr`` ICE-balanced (cis): in place when it is a temporary map of ``work``, else a copy there."""
    import warnings

    import cooler

    if Path(clr.filename).resolve().parent == work.resolve():
        out = clr.uri
    else:
        out = str(work / f"coarse.{clr.binsize}.balanced.cool")
        cooler.fileops.cp(clr.uri, out)
    c = cooler.Cooler(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, stats = cooler.balance_cooler(c, cis_only=True, store=True)
    if not np.all(stats.get("converged", True)):
        log.warning("%s: ICE balancing for compartments did not converge on every chromosome (variance %s); "
                    "weights used anyway", clr.uri, np.round(np.atleast_1d(stats.get("var", np.nan)), 4).tolist()[:5])
    return cooler.Cooler(out)


def open_contacts(uri: str, bin_size: int | None, normalization: str,
                  compartment_bin_size: Callable[[int, int], int], band: Callable[[int], int | None], work: Path, chunk_bins: int = 20_000) -> ContactMaps:
    """Open ``uri`` at ``bin_size`` (checked) with ``normalization``, plus a map for compartments.

    Parameters
    ----------
    uri : ``FILE.cool``, ``FILE.mcool[::resolutions/N]`` or ``FILE.hic``.
    compartment_bin_size : (working resolution, longest chromosome bp) -> compartment resolution.
    band : resolution -> the farthest pixel distance needed, in bins (``None`` = whole
        chromosomes); only temporary copies are band-limited.
    work : a folder for temporary maps (removed by the caller).
    """
    import cooler

    path = uri.split("::")[0]
    fmt = contact_format(uri)
    meta: dict[str, Any] = {"path": uri, "format": fmt}
    if fmt == "hic":
        import hictkpy

        res = _pick_level(uri, fmt, bin_size)
        norm = _hic_normalization(hictkpy.File(path, res), normalization, path)
        clr, weight = _materialise(path, res, norm, True, work / f"contacts.{res}.cool", band(res), chunk_bins)
        meta.update(normalization=norm or "none", materialised=True)
    else:
        if fmt == "mcool" and "::" not in uri:
            res = _pick_level(uri, fmt, bin_size)
            uri = f"{path}::resolutions/{res}"
        clr = _open_cooler(uri, bin_size)
        col, divisive = _cooler_weight(clr, normalization, uri)
        weight = col
        if divisive:  # cooltools multiplies weights: go through hictkpy, which inverts them
            clr, weight = _materialise(uri if fmt == "cool" else path, int(clr.binsize), col, True,
                                       work / f"contacts.{clr.binsize}.cool", band(int(clr.binsize)), chunk_bins)
        meta.update(normalization=col or "none", divisive_weights=divisive, materialised=divisive)
    res = int(clr.binsize)
    meta["bin_size"] = res

    # compartments: a coarser map of the same file when there is one
    want = int(compartment_bin_size(res, int(max(clr.chromsizes))))
    if want <= res:
        coarse, coarse_how = clr, "the working map"
    else:
        levels = [r for r in _levels(path, fmt) if r >= want and r % res == 0] if fmt in ("mcool", "hic") else []
        if levels:
            cres = levels[0]
            if fmt == "hic":
                import hictkpy

                cnorm = _hic_normalization(hictkpy.File(path, cres), normalization, path) if weight else None
                coarse, _ = _materialise(path, cres, cnorm, True, work / f"contacts.{cres}.cool", None, chunk_bins)
            else:
                coarse = _open_cooler(f"{path}::resolutions/{cres}", cres)
            coarse_how = f"the file's {cres:,} bp level"
        else:
            factor = max(1, int(round(want / res)))
            out = work / f"coarse.{res * factor}.cool"
            cooler.coarsen_cooler(clr.uri, str(out), factor, chunksize=2_000_000)
            coarse = cooler.Cooler(str(out))
            coarse_how = f"the {res:,} bp map coarsened {factor}x (cooler.coarsen_cooler)"
    cweight = None
    if coarse is clr:
        cweight = weight
    elif weight and weight in coarse.bins().columns:
        cweight = weight if not _cooler_weight(coarse, weight, coarse.uri)[1] else None
    if cweight is None:
        coarse = _balanced_copy(coarse, work)
        cweight = "weight"
        coarse_how += ", ICE-balanced (cooler.balance_cooler; the map has no usable weights at this level)"
    meta.update(compartment_bin_size=int(coarse.binsize), compartment_map=coarse_how)
    log.info("%s: compartments from %s", path, coarse_how)
    names = {canonical_chrom(n): str(n) for n in clr.chromnames}
    return ContactMaps(clr=clr, weight=weight, coarse=coarse, coarse_weight=cweight, names=names, meta=meta)


def harmonise_chromosomes(ann_chroms: set[str], maps: ContactMaps, where: str) -> dict[str, str]:
    """Annotation chromosome -> contact-file chromosome, by :func:`canonical_chrom`; renamings logged.

    Two annotation names with the same canonical form (``chr1`` and ``1``) are an error.
    """
    by_canon: dict[str, str] = {}
    for c in sorted(ann_chroms):
        k = canonical_chrom(c)
        if k in by_canon and by_canon[k] != c:
            raise InputError(f"{where}: chromosomes '{by_canon[k]}' and '{c}' are the same chromosome in two spellings; "
                             f"use one naming style.")
        by_canon[k] = c
    mapping = {c: maps.names[k] for k, c in by_canon.items() if k in maps.names}
    renamed = {a: b for a, b in mapping.items() if a != b}
    if renamed:
        shown = ", ".join(f"{a}->{b}" for a, b in sorted(renamed.items(), key=lambda kv: _natural(kv[0]))[:30])
        log.info("chromosome names harmonised (annotation -> contacts), %d renamed: %s%s", len(renamed), shown,
                 " ..." if len(renamed) > 30 else "")
    return mapping


def _natural(s: str) -> tuple:
    return tuple((0, int(t)) if t.isdigit() else (1, t) for t in re.split(r"(\d+)", s) if t)
