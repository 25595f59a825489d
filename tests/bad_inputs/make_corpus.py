#!/usr/bin/env python
"""Writes the bad-input corpus: 12 structures of the shipped GFN1-xTB carbon set per file (9 of its
training split, 3 of its test split), structure 7 broken in one way each (cases.yaml says how each must be reported). Rerun to regenerate:
  python tests/bad_inputs/make_corpus.py
"""

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

HERE = Path(__file__).resolve().parent
BAD = 7


def frames():
    shipped = read(HERE.parents[1] / "data" / "carbon-gfn1-64.extxyz.gz", ":")
    return shipped[:9] + [a for a in shipped if a.info.get("split") == "test"][:3]


def plain(atoms, energy=True, forces=True):
    """The structure with its labels as plain extxyz columns (or without them)."""
    out = Atoms(atoms.get_chemical_symbols(), atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    out.info.update({k: v for k, v in atoms.info.items() if k not in ("energy", "stress")})
    if energy:
        out.info["energy"] = atoms.get_potential_energy()
    if forces:
        out.arrays["forces"] = atoms.get_forces()
    return out


def corpus() -> dict:
    good = [plain(a) for a in frames()]
    cases = {}

    def broken(name, atoms):
        cases[name] = good[:BAD] + [atoms] + good[BAD + 1:]

    broken("no_energy", plain(frames()[BAD], energy=False))
    broken("no_forces", plain(frames()[BAD], forces=False))
    nan = good[BAD].copy()
    nan.arrays["forces"] = good[BAD].arrays["forces"].copy()
    nan.arrays["forces"][3, 1] = np.nan
    broken("nan_forces", nan)
    inf = good[BAD].copy()
    inf.info["energy"] = float("inf")
    broken("infinite_energy", inf)
    broken("zero_atoms", Atoms(cell=good[BAD].cell, pbc=True, info={"energy": 0.0}))
    overlap = good[BAD].copy()
    overlap.positions[5] = overlap.positions[4] + 0.01
    broken("overlapping_atoms", overlap)
    alien = good[BAD].copy()
    alien.symbols[0] = "Si"
    broken("unknown_element", alien)
    filtered = [a.copy() for a in good]
    for a in filtered:
        a.info["config_type"] = "dimer"
    cases["all_filtered"] = filtered
    return cases


def main() -> None:
    for name, structures in corpus().items():
        write(HERE / f"{name}.extxyz", structures, format="extxyz")
    # malformed: structure 7 announces 64 atoms but holds 63 lines
    write(HERE / "malformed.extxyz", [plain(a) for a in frames()], format="extxyz")
    lines = (HERE / "malformed.extxyz").read_text().splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip() == "64"]
    del lines[starts[BAD] + 5]
    (HERE / "malformed.extxyz").write_text("".join(lines))
    (HERE / "broken_gap.xml").write_text('<GAP_params label="GAP_broken">\n  <GAP_data do_core="F" e0="0.0">\n')


if __name__ == "__main__":
    main()
