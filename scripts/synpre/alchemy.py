"""Alchemical pre-training (the paper's Si experiment): synthetic structures of one element relabelled
as another, with the cell scaled to the new element's bond length.

Energies are kept; positions and cell scale by s, so forces (dE/dx) scale by 1/s and stress
(dE/dstrain / V) by 1/s^3, which keeps every label consistent with the same energy surface stretched.
"""

from __future__ import annotations

from ase import Atoms

from .labels import with_labels


def transmute(atoms: Atoms, species_map: dict[str, str], cell_scale: float) -> Atoms:
    symbols = [species_map.get(s, s) for s in atoms.get_chemical_symbols()]
    moved = Atoms(symbols, positions=atoms.positions * cell_scale, cell=atoms.cell.array * cell_scale,
                  pbc=atoms.pbc)
    moved.info.update(atoms.info)
    res = atoms.calc.results
    stress = res.get("stress")
    return with_labels(moved, res["energy"], res["forces"] / cell_scale,
                       None if stress is None else stress / cell_scale**3,
                       info={"alchemy": ",".join(f"{a}->{b}" for a, b in species_map.items()),
                             "cell_scale": float(cell_scale)})
