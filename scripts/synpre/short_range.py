"""Short-range synthetic structures (config ``short_range``, issue 17): what MD snapshots never contain,
so that a model pre-trained on the teacher's labels sees the teacher's repulsion.

- ``dimer``: an isolated pair of every element pair at ``dimers`` distances evenly from ``r_min`` to ``r_max``;
- ``trimer``: ``trimers`` random triangles, every bond in [``r_min``, ``r_max``], random elements;
- ``compressed``: copies of the real training cells (the first ``max_sources``) with cell and positions scaled
  by each of ``compressed_scales`` (linear factors < 1), kept only if no pair is closer than ``min_distance``.

Dimers and trimers sit in a periodic cubic ``box`` (A) far beyond any cutoff, as LAMMPS and quippy teachers
need a cell. Every structure is unlabelled here; the teachers label them with the rest of the synthetic pool.
"""

from __future__ import annotations

import itertools

import numpy as np
from ase import Atoms

from .structures import min_interatomic_distance


def _in_box(symbols, positions, box: float) -> Atoms:
    a = Atoms(symbols, positions=np.asarray(positions, dtype=float), cell=[box] * 3, pbc=True)
    a.positions += box / 2 - a.positions.mean(axis=0)
    return a


def dimers(elements, s: dict) -> list[Atoms]:
    out = []
    for a, b in itertools.combinations_with_replacement(sorted(elements), 2):
        for r in np.linspace(float(s["r_min"]), float(s["r_max"]), int(s["dimers"])):
            d = _in_box([a, b], [[0, 0, 0], [r, 0, 0]], float(s["box"]))
            d.info.update(config_type="dimer", pair=f"{a}-{b}", distance=float(r))
            out.append(d)
    return out


def trimers(elements, s: dict, rng: np.random.Generator, tries: int = 1000) -> list[Atoms]:
    """Triangles with two bonds drawn uniformly in [r_min, r_max] and the angle between them uniform in
    (0, pi), redrawn until the third bond is in the range as well."""
    lo, hi, out = float(s["r_min"]), float(s["r_max"]), []
    elements = sorted(elements)
    for _ in range(int(s["trimers"])):
        for _ in range(tries):
            r1, r2, theta = rng.uniform(lo, hi), rng.uniform(lo, hi), rng.uniform(0, np.pi)
            p2 = [r2 * np.cos(theta), r2 * np.sin(theta), 0.0]
            if lo <= np.linalg.norm(np.subtract(p2, [r1, 0, 0])) <= hi:
                break
        else:
            raise ValueError(f"short_range: no triangle with every bond in [{lo}, {hi}] A after {tries} tries")
        t = _in_box(list(rng.choice(elements, 3)), [[0, 0, 0], [r1, 0, 0], p2], float(s["box"]))
        t.info.update(config_type="trimer")
        out.append(t)
    return out


def compressed(sources: list[Atoms], s: dict) -> tuple[list[Atoms], int]:
    """(compressed copies, how many were dropped by the min_distance guard)."""
    out, dropped = [], 0
    for i, src in enumerate(sources):
        for scale in s["compressed_scales"]:
            a = Atoms(src.get_chemical_symbols(), positions=src.positions, cell=src.cell, pbc=src.pbc)
            a.set_cell(a.cell.array * float(scale), scale_atoms=True)
            if min_interatomic_distance(a) < float(s["min_distance"]):
                dropped += 1
                continue
            a.info.update(config_type="compressed", scale=float(scale), source_index=int(src.info.get("source_index", i)))
            out.append(a)
    return out, dropped


def short_range_part(elements, s: dict, sources: list[Atoms], part: int, parts: int) -> tuple[list[Atoms], int]:
    """Part ``part`` of ``parts``: every parts-th dimer and trimer (the whole set drawn from one seed, so
    parts never overlap) and the compressed copies of source structures part, part+parts, ..."""
    rng = np.random.default_rng(int(s.get("seed", 0)))
    small = dimers(elements, s) + trimers(elements, s, rng)
    dense, dropped = compressed(sources[: s.get("max_sources") or None][part::parts], s)
    return small[part::parts] + dense, dropped


def max_short_range(s: dict | None, n_elements: int) -> int | None:
    """Structures the section makes at most (None: bounded by the real pool's size, unknown at parse time)."""
    if not s:
        return 0
    pairs = n_elements * (n_elements + 1) // 2
    small = pairs * int(s.get("dimers", 0)) + int(s.get("trimers", 0))
    if not s.get("compressed_scales"):
        return small
    if not s.get("max_sources"):
        return None
    return small + s["max_sources"] * len(s["compressed_scales"])
