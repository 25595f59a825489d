#!/usr/bin/env python
"""Rule `crystals`: strained and rattled crystalline cells (diamond, graphite), unlabelled.

Amorphous MD alone leaves a teacher blind to the crystals; a few distorted crystal cells in the
reference set let a fitted GAP and the tests see them (``config_type`` diamond / graphite).

Example:
  python scripts/crystals.py --settings '{"diamond": 6, "graphite": 6, "strain": 0.03, "rattle": 0.05}' \
      --seed 7 --out results/default/reference-build/crystals.xyz
"""

from __future__ import annotations

import numpy as np
from ase.build import bulk
from ase.lattice.hexagonal import Graphite

from synpre.atomic import write_frames
from synpre.cli import json_arg, parser, setup_logging


def distorted(atoms, rng, strain: float, rattle: float):
    a = atoms.copy()
    eps = rng.uniform(-strain, strain, size=(3, 3))
    a.set_cell(a.cell.array @ (np.eye(3) + (eps + eps.T) / 2), scale_atoms=True)
    a.positions += rng.normal(0.0, rattle, size=a.positions.shape)
    a.wrap()
    return a


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--settings", type=json_arg, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    s, rng = args.settings, np.random.default_rng(args.seed)
    prototypes = {
        "diamond": bulk("C", "diamond", a=3.567, cubic=True).repeat((2, 2, 2)),              # 64 atoms
        "graphite": Graphite(symbol="C", latticeconstant={"a": 2.464, "c": 6.711}, size=(4, 4, 1)),  # 64 atoms
    }
    frames = []
    for kind, proto in prototypes.items():
        for i in range(int(s.get(kind, 0))):
            a = distorted(proto, rng, float(s["strain"]), float(s["rattle"]) * (1 + i % 3) / 2)
            a.info.update(config_type=kind, trajectory=-1, crystal_index=i)
            frames.append(a)
    log.info("made %d crystalline cells", len(frames))
    write_frames(args.out, frames)


if __name__ == "__main__":
    main()
