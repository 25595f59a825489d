#!/usr/bin/env python
"""Rule `dimer`: E(r) of an isolated pair of atoms for every element pair, with one model or a teacher.

Exposes unphysical short- and long-range behaviour (no repulsive wall, spurious minima, a tail that
does not go to zero). Energies are relative to the pair at the largest distance (beyond any cutoff),
so curves of models and teachers with different isolated-atom references compare directly.

Example:
  python scripts/dimer.py --model results/default/direct/pretrain-0/finetune-25/scratch/seed-0/model.nequip.zip \
      --elements C --out results/default/direct/pretrain-0/finetune-25/scratch/seed-0/dimer.csv
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from ase import Atoms

from synpre.atomic import write_csv
from synpre.cli import json_arg, parser, setup_logging
from synpre.models import add_calculator_args, calculator_from_args


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


def main(argv=None) -> None:
    p = parser(__doc__)
    add_calculator_args(p)
    p.add_argument("--elements", nargs="+", required=True)
    p.add_argument("--r-min", type=float, default=0.5)
    p.add_argument("--r-max", type=float, default=6.0)
    p.add_argument("--points", type=int, default=111)
    p.add_argument("--run-info", type=json_arg, default={})
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    calc, label = calculator_from_args(args)
    # quippy and LAMMPS need a cell (a big one); models and tblite take the bare pair
    box = 30.0 if args.teacher and args.teacher["kind"] != "tblite" else None
    distances = np.linspace(args.r_min, args.r_max, args.points)
    rows = []
    for a, b in itertools.combinations_with_replacement(sorted(args.elements), 2):
        e = dimer_curve(calc, a, b, distances, box, log)
        rows += [dict(args.run_info, pair=f"{a}-{b}", r=float(r), energy_eV=float(x)) for r, x in zip(distances, e)]
        if not np.isfinite(e).any():
            log.warning("%s %s-%s: no point could be computed", label, a, b)
            continue
        i = int(np.nanargmin(e))
        log.info("%s %s-%s: minimum %.3f eV at %.2f A; E(%.2f A) = %.2f eV", label, a, b, e[i], distances[i],
                 distances[0], e[0])
    write_csv(args.out, pd.DataFrame(rows))


if __name__ == "__main__":
    main()
