"""Reading labelled datasets with validation that names the file, the structure and the fix.

Bad data must stop the pipeline before any training job is spent on it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import iread

from .labels import with_labels
from .structures import min_interatomic_distance


class DatasetError(ValueError):
    pass


def _label(atoms: Atoms, key: str, kind: str):
    """A label from info/arrays under ``key``, or from the calculator ase attached when reading
    ``energy``/``forces``/``stress`` from extxyz (ase >= 3.23 moves those into a SinglePointCalculator)."""
    store = atoms.info if kind == "info" else atoms.arrays
    if key in store:
        return store[key]
    calc = atoms.calc
    if calc is not None:
        prop = {"energy": "energy", "forces": "forces", "stress": "stress"}.get(key)
        if prop and prop in calc.results:
            return calc.results[prop]
    return None


def read_frames(path: str | Path, index=":") -> list[Atoms]:
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: file does not exist; check the path in the config")
    if path.stat().st_size == 0:
        return []  # written by a step that produced no structures (e.g. every frame filtered out)
    frames = []
    try:
        for atoms in iread(str(path), index=index):
            frames.append(atoms)
    except Exception as exc:  # ase raises many types on malformed extxyz
        where = _misframed(path) or f"{path} structure {len(frames)}: cannot be read as extxyz"
        raise DatasetError(f"{where} ({type(exc).__name__}: {str(exc)[:120]}); fix or delete this structure, or "
                           "regenerate the file") from exc
    return frames


def _misframed(path: Path) -> str | None:
    """Where an (ext)xyz file's atom counts and lines stop agreeing: ase indexes every frame before it
    reads one, so its error cannot say which structure is broken."""
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as f:
            lines = f.readlines()
    except (OSError, UnicodeDecodeError):
        return None
    i, k = 0, 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        try:
            n = int(lines[i].split()[0])
        except (ValueError, IndexError):
            if k == 0:
                return f"{path} structure 0: line 1 should hold its atom count but reads {lines[i][:40]!r}"
            return (f"{path} structure {k - 1}: has more or fewer atom lines than its atom count "
                    f"(line {i + 1} should start structure {k} but reads {lines[i][:40]!r})")
        i, k = i + n + 2, k + 1
    if i > len(lines):
        return f"{path} structure {k - 1}: the file ends before its last atom line"
    return None


def validated(frames: list[Atoms], source: str, energy_key: str, forces_key: str, elements: list[str],
              isolated: dict[str, float], min_distance: float = 0.5, indices: list[int] | None = None) -> list[Atoms]:
    """Frames with clean referenced labels (E - sum of isolated atoms, forces); raise on the first bad one,
    named by its index in the file (``indices``, when some frames were filtered out before)."""
    out = []
    for i, atoms in enumerate(frames):
        where = f"{source} structure {indices[i] if indices else i}"
        if len(atoms) == 0:
            raise DatasetError(f"{where}: has zero atoms; remove it from the file")
        e, f = _label(atoms, energy_key, "info"), _label(atoms, forces_key, "arrays")
        if e is None:
            raise DatasetError(f"{where}: no energy under key {energy_key!r}; set reference.energy_key to the "
                               "info key holding the total energy")
        if f is None:
            raise DatasetError(f"{where}: no forces under key {forces_key!r}; set reference.forces_key to the "
                               "per-atom array holding the forces")
        f = np.asarray(f, dtype=float)
        if f.shape != (len(atoms), 3):
            raise DatasetError(f"{where}: forces have shape {f.shape}, expected ({len(atoms)}, 3)")
        if not np.isfinite(float(e)) or not np.all(np.isfinite(f)):
            raise DatasetError(f"{where}: energy or forces are NaN/infinite; drop or relabel this structure")
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(elements))
        if unknown:
            raise DatasetError(f"{where}: elements {unknown} are not in the model's elements {elements}; "
                               "add them to `elements` in the config (with isolated-atom energies) or filter the data")
        missing = sorted(set(atoms.get_chemical_symbols()) - set(isolated))
        if missing:
            raise DatasetError(f"{where}: no isolated-atom energy for {missing}; add them to "
                               "reference.isolated_atom_energies")
        d = min_interatomic_distance(atoms)
        if d < min_distance:
            raise DatasetError(f"{where}: two atoms are {d:.3f} A apart (< {min_distance} A); the structure is "
                               "corrupt (atoms on top of each other): remove it")
        stress = _label(atoms, "stress", "info")
        e_ref = float(e) - sum(isolated[s] for s in atoms.get_chemical_symbols())
        info = {k: v for k, v in atoms.info.items() if k not in (energy_key, "stress") and np.isscalar(v)}
        out.append(with_labels(atoms, e_ref, f, stress if stress is not None and atoms.pbc.all() else None, info))
    return out
