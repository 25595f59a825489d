"""Building and checking atomic structures: random hard-sphere cells, distance and finiteness guards."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

AMU_PER_G_CM3_TO_A3 = 1.0 / 0.602214076  # (g/cm^3) -> amu/Angstrom^3 conversion factor


def cubic_cell_length(symbols: list[str], density_g_cm3: float) -> float:
    """Edge of the cubic cell (Angstrom) holding these atoms at the given mass density."""
    mass_amu = sum(atomic_masses[atomic_numbers[s]] for s in symbols)
    return float((mass_amu * AMU_PER_G_CM3_TO_A3 / density_g_cm3) ** (1.0 / 3.0))


def random_cell(symbols: list[str], density: float, min_distance: float, rng: np.random.Generator,
                max_tries: int = 20000) -> Atoms:
    """Atoms placed uniformly at random in a cubic periodic cell, no pair closer than ``min_distance``.

    The paper's C-SYNTH-23M cells were made this way (hard-sphere radius 0.5 A, i.e. 1.0 A minimum).
    """
    a = cubic_cell_length(symbols, density)
    positions = np.empty((0, 3))
    for _ in symbols:
        for _try in range(max_tries):
            p = rng.uniform(0.0, a, size=3)
            if len(positions) == 0:
                break
            d = positions - p
            d -= a * np.round(d / a)
            if np.min(np.einsum("ij,ij->i", d, d)) >= min_distance**2:
                break
        else:
            raise RuntimeError(
                f"could not place {len(symbols)} atoms at {density} g/cm^3 with minimum distance "
                f"{min_distance} A; lower sampling.min_distance or the density")
        positions = np.vstack([positions, p])
    return Atoms(symbols=symbols, positions=positions, cell=[a, a, a], pbc=True)


def min_interatomic_distance(atoms: Atoms) -> float:
    """Smallest distance between two atoms (minimum image); inf for a single atom."""
    if len(atoms) < 2:
        return float("inf")
    from ase.neighborlist import neighbor_list

    cutoff = 3.0
    d = neighbor_list("d", atoms, cutoff) if atoms.pbc.any() else None
    if d is None:
        from scipy.spatial.distance import pdist

        return float(pdist(atoms.positions).min())
    if len(d) == 0:
        return cutoff
    return float(d.min())
