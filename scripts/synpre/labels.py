"""Labelled structures: attach teacher/reference labels, read them back, reference energies."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator


def reference_energy(atoms: Atoms, isolated: dict[str, float]) -> float:
    """Sum of isolated-atom energies of this structure's atoms."""
    return float(sum(isolated[s] for s in atoms.get_chemical_symbols()))


def with_labels(atoms: Atoms, energy: float, forces, stress=None, info: dict | None = None) -> Atoms:
    """A clean copy of ``atoms`` whose calculator holds exactly these labels (written as extxyz
    ``energy``/``forces``/``stress``, which nequip's ASE dataset maps to its own fields)."""
    out = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions.copy(), cell=atoms.cell.array.copy(),
                pbc=atoms.pbc.copy())
    out.info.update({k: v for k, v in atoms.info.items() if np.isscalar(v) or isinstance(v, str)})
    out.info.update(info or {})
    results = {"energy": float(energy), "forces": np.asarray(forces, dtype=float)}
    if stress is not None:
        results["stress"] = np.asarray(stress, dtype=float)
    out.calc = SinglePointCalculator(out, **results)
    return out


def label_with(atoms: Atoms, calculator, isolated: dict[str, float], info: dict | None = None) -> Atoms:
    """Evaluate ``calculator`` on ``atoms``: energy referenced to the isolated atoms, forces, and the
    stress for periodic cells."""
    from ase.calculators.calculator import all_changes
    from ase.stress import full_3x3_to_voigt_6_stress

    work = atoms.copy()
    periodic = bool(atoms.pbc.all())
    # One call for all properties: asked one at a time, quippy recomputes for each (2x slower).
    calculator.calculate(work, properties=["energy", "forces"] + (["stress"] if periodic else []),
                         system_changes=all_changes)
    res = calculator.results
    energy = float(res["energy"]) - reference_energy(atoms, isolated)
    stress = None
    if periodic:
        stress = np.asarray(res["stress"], dtype=float)
        stress = full_3x3_to_voigt_6_stress(stress) if stress.shape == (3, 3) else stress
    return with_labels(atoms, energy, np.array(res["forces"], dtype=float), stress, info)
