#!/usr/bin/env python
"""Rule `teacher_dimer`: E(r) of an isolated pair of atoms for every element pair, with a teacher (or, by
hand, a model); the final models' curves are written by `evaluate` (synpre.dimer).

Example:
  python scripts/dimer.py --teacher @results/default/teachers/gap-fit/teacher.json --elements C \
      --out results/default/teachers/gap-fit/dimer.csv
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synpre.atomic import write_csv
from synpre.cli import json_arg, parser, setup_logging
from synpre.dimer import POINTS, R_MAX, R_MIN, dimer_rows
from synpre.models import add_calculator_args, calculator_from_args


def main(argv=None) -> None:
    p = parser(__doc__)
    add_calculator_args(p)
    p.add_argument("--elements", nargs="+", required=True)
    p.add_argument("--r-min", type=float, default=R_MIN)
    p.add_argument("--r-max", type=float, default=R_MAX)
    p.add_argument("--points", type=int, default=POINTS)
    p.add_argument("--run-info", type=json_arg, default={})
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    calc, label = calculator_from_args(args)
    # quippy and LAMMPS need a cell (a big one); models and tblite take the bare pair
    box = 30.0 if args.teacher and args.teacher["kind"] != "tblite" else None
    rows = dimer_rows(calc, args.elements, label, args.run_info, log,
                      np.linspace(args.r_min, args.r_max, args.points), box)
    write_csv(args.out, pd.DataFrame(rows))


if __name__ == "__main__":
    main()
