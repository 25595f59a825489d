"""E(r) of an isolated pair of atoms for every element pair: unphysical short- and long-range behaviour
(no repulsive wall, spurious minima, a tail that does not go to zero) that test-set RMSEs never see.

Energies are relative to the pair at the largest distance (beyond any cutoff), so curves of models and
teachers with different isolated-atom references compare directly.
"""

from __future__ import annotations

import itertools

import numpy as np
from ase import Atoms

R_MIN, R_MAX, POINTS = 0.5, 6.0, 111  # A
DISTANCES = np.linspace(R_MIN, R_MAX, POINTS)


def dimer_curve(calc, a: str, b: str, distances: np.ndarray, periodic_box: float | None, log=None) -> np.ndarray:
    """Energies along r, relative to the last point; NaN where the calculator fails (e.g. an xTB SCF that
    does not converge for an open-shell pair), which the log reports."""
    from ase.calculators.calculator import CalculationFailed

    energies = []
    for r in distances:
        if periodic_box:  # LAMMPS and quippy need a cell: a big one, far beyond any cutoff
            pair = Atoms([a, b], positions=[[0, 0, 0], [r, 0, 0]], cell=[periodic_box] * 3, pbc=True)
            pair.positions += periodic_box / 2 - r / 2
        else:
            pair = Atoms([a, b], positions=[[0, 0, 0], [r, 0, 0]], pbc=False)
        pair.calc = calc
        try:
            energies.append(float(pair.get_potential_energy()))
        except CalculationFailed as exc:
            if log:
                log.warning("%s-%s at %.2f A: %s; recorded as NaN", a, b, r, exc)
            energies.append(float("nan"))
    e = np.array(energies)
    finite = e[np.isfinite(e)]
    return e - (finite[-1] if len(finite) else 0.0)


def dimer_rows(calc, elements, label: str, run_info: dict, log, distances=DISTANCES,
               periodic_box: float | None = None) -> list[dict]:
    """One row per element pair and distance (the dimer.csv table), each pair's minimum logged."""
    rows = []
    for a, b in itertools.combinations_with_replacement(sorted(elements), 2):
        e = dimer_curve(calc, a, b, distances, periodic_box, log)
        rows += [dict(run_info, pair=f"{a}-{b}", r=float(r), energy_eV=float(x)) for r, x in zip(distances, e)]
        if not np.isfinite(e).any():
            log.warning("%s %s-%s: no point could be computed", label, a, b)
            continue
        i = int(np.nanargmin(e))
        log.info("%s %s-%s: minimum %.3f eV at %.2f A; E(%.2f A) = %.2f eV", label, a, b, e[i], distances[i],
                 distances[0], e[0])
    return rows


def dimer_metrics(r, e, r_wall: float = 0.6, tol: float = 1e-3) -> dict:
    """What a dimer curve says about short-range physics, as ml-peg scores it:
    - ``wall_eV``: E(r_wall) - E_min, the height of the repulsive wall (large and positive when present);
    - ``n_minima``: local minima of E(r) (1 for a physical pair; the flat tail beyond the cutoff is ignored);
    - ``force_sign_flips``: sign changes of F = -dE/dr where |F| > tol (1 for a physical pair: repulsive,
      then attractive)."""
    r, e = np.asarray(r, dtype=float), np.asarray(e, dtype=float)
    ok = np.isfinite(e)
    r, e = r[ok], e[ok]
    if len(e) < 3:
        return {"wall_eV": float("nan"), "n_minima": 0, "force_sign_flips": 0, "e_min_eV": float("nan"),
                "r_min_A": float("nan")}
    i = int(np.argmin(e))
    de = np.diff(e)
    slope = np.where(np.abs(de) > tol, np.sign(de), 0.0)
    moving = slope[slope != 0]
    n_minima = int(np.sum((moving[:-1] < 0) & (moving[1:] > 0)))
    force = -np.gradient(e, r)
    signs = np.sign(force[np.abs(force) > tol])
    return {"wall_eV": float(np.interp(r_wall, r, e) - e[i]), "n_minima": n_minima,
            "force_sign_flips": int(np.sum(signs[:-1] != signs[1:])), "e_min_eV": float(e[i]),
            "r_min_A": float(r[i])}
