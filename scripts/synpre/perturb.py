"""Physics-informed synthetic structures by perturbation (Zheng & Fung): random cell strain, then
random atomic displacements of fixed magnitudes, over several rounds; no pair closer than a guard."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from .structures import min_interatomic_distance


def strained(atoms: Atoms, rng: np.random.Generator, max_strain: float) -> Atoms:
    """Atoms with their cell (and positions) deformed by a random symmetric strain, |e_ij| <= max_strain."""
    a = atoms.copy()
    if max_strain > 0 and a.pbc.any():
        e = rng.uniform(-max_strain, max_strain, size=(3, 3))
        a.set_cell(a.cell.array @ (np.eye(3) + (e + e.T) / 2), scale_atoms=True)
    return a


def displaced(atoms: Atoms, rng: np.random.Generator, magnitude: float, distribution: str) -> Atoms:
    """Every atom moved by ``magnitude`` in a random direction ('fixed'), or by a Gaussian of that
    standard deviation per component ('gaussian', i.e. rattling)."""
    a = atoms.copy()
    if magnitude > 0:
        if distribution == "fixed":
            v = rng.normal(size=a.positions.shape)
            a.positions += magnitude * v / np.linalg.norm(v, axis=1, keepdims=True)
        else:
            a.positions += rng.normal(0.0, magnitude, size=a.positions.shape)
    if a.pbc.any():
        a.wrap()
    return a


def perturbations(sources: list[Atoms], settings: dict, seed: int, tries: int = 20):
    """Yield (structure, None) for each kept perturbation and (None, reason) for each dropped one."""
    rng = np.random.default_rng(seed)
    guard = float(settings["min_distance"])
    for i, src in enumerate(sources):
        clean = Atoms(src.get_chemical_symbols(), positions=src.positions, cell=src.cell, pbc=src.pbc)
        for r in range(int(settings["rounds"])):
            for magnitude in settings["displacements"]:
                for _ in range(tries):
                    a = displaced(strained(clean, rng, float(settings["strain"])), rng, float(magnitude),
                                  settings.get("distribution", "fixed"))
                    if min_interatomic_distance(a) >= guard:
                        a.info.update(config_type="perturbed", source_index=int(src.info.get("source_index", i)),
                                      perturb_round=r, displacement=float(magnitude))
                        yield a, None
                        break
                else:
                    yield None, f"structure {i}: no perturbation with {magnitude} A kept atoms >= {guard} A apart"
