"""Radial distribution functions of MD snapshots, and the error of one against a reference.

Periodic cells: g(r) normalised by the ideal-gas pair density. Molecules (no cell): the pair-distance
distribution, normalised to unit area, since a density is undefined."""

from __future__ import annotations

import numpy as np
from ase import Atoms


def rdf(frames: list[Atoms], r_max: float = 6.0, bins: int = 120) -> tuple[np.ndarray, np.ndarray]:
    from ase.neighborlist import neighbor_list
    from scipy.spatial.distance import pdist

    edges = np.linspace(0.0, r_max, bins + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    hist = np.zeros(bins)
    if not frames:
        return centres, np.full(bins, np.nan)
    periodic = bool(frames[0].pbc.all())
    for atoms in frames:
        d = neighbor_list("d", atoms, r_max) if periodic else pdist(atoms.positions)
        h, _ = np.histogram(d, bins=edges)
        if periodic:
            n, volume = len(atoms), atoms.get_volume()
            shell = 4 / 3 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
            h = h / (n * (n / volume) * shell)  # ordered pairs (i, j) and (j, i), as g(r) counts them
        hist += h
    g = hist / len(frames)
    if not periodic:
        g = g / max(g.sum() * (edges[1] - edges[0]), 1e-300)
    return centres, g


def rdf_error(g: np.ndarray, g_ref: np.ndarray) -> float:
    """Root-mean-square difference of two g(r) on the same grid (NaN if either is missing)."""
    if not (np.isfinite(g).all() and np.isfinite(g_ref).all()):
        return float("nan")
    return float(np.sqrt(np.mean((g - g_ref) ** 2)))


def hold_frames(frames: list[Atoms], ramp_ps: float) -> list[Atoms]:
    """Snapshots from the hold (after the ramp), where models and reference are comparable: those marked
    ``phase=hold`` (every replica of a stability run), else those at ``time_ps`` >= ``ramp_ps``; a given
    trajectory without either (e.g. from a DFT code) is taken whole."""
    def held(a: Atoms) -> bool:
        if "phase" in a.info:
            return a.info["phase"] == "hold"
        return "time_ps" not in a.info or float(a.info["time_ps"]) >= ramp_ps - 1e-9

    return [a for a in frames if held(a)]


class RDFReferenceError(ValueError):
    pass


def check_reference(reference: list[Atoms], reference_name: str, ramp_ps: float, elements) -> None:
    """Raise RDFReferenceError, naming the reference, when an MD of ``elements`` cannot be compared with
    it: called before the MD too, so a bad reference costs no simulation."""
    ref = hold_frames(reference, ramp_ps)
    if not ref:
        raise RDFReferenceError(
            f"{reference_name}: no reference snapshots after {ramp_ps} ps; the reference MD did not reach the hold "
            "(see its stability.json) or give stability.rdf_reference.file with a longer trajectory")
    ref_elements = {el for a in ref for el in a.get_chemical_symbols()}
    if not set(elements) <= ref_elements:
        raise RDFReferenceError(
            f"{reference_name}: holds elements {sorted(ref_elements)}, but the model's MD has {sorted(set(elements))}; "
            "give a reference trajectory of the same system")


def rdf_report(frames: list[Atoms], reference: list[Atoms], reference_name: str, ramp_ps: float,
               r_max: float = 6.0) -> tuple[dict, dict]:
    """The hold-phase RDF of one MD run against a reference MD: (rdf.json fields, rdf.csv columns).
    Raises RDFReferenceError, naming the reference, when it cannot be compared."""
    own, ref = hold_frames(frames, ramp_ps), hold_frames(reference, ramp_ps)
    check_reference(reference, reference_name, ramp_ps, {el for a in own for el in a.get_chemical_symbols()})
    r, g = rdf(own, r_max)
    _, g_ref = rdf(ref, r_max)
    err = rdf_error(g, g_ref)
    summary = {"rdf_error": err if own else None, "n_frames": len(own), "n_reference_frames": len(ref),
               "reference": reference_name,
               "note": None if own else "no snapshots in the hold: the MD failed during the ramp"}
    return summary, {"r": r, "g": g, "g_reference": g_ref}
