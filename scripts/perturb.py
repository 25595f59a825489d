#!/usr/bin/env python
"""Rule `perturb`: strained + displaced copies of given structures (Zheng & Fung's physics-informed
synthetic data), unlabelled; part k of K takes source structures k, k+K, ... so parts run as jobs.

Example:
  python scripts/perturb.py --inputs results/default/reference/train_pool.xyz --part 0 --parts 4 \
      --settings '{"strain": 0.05, "displacements": [0.0, 0.15, 0.3], "rounds": 2, "min_distance": 0.8}' \
      --seed 0 --out results/default/synthetic/perturbed/part-0.xyz
"""

from __future__ import annotations

from synpre.atomic import write_frames
from synpre.cli import part_parser, setup_logging, source_structures
from synpre.perturb import perturbations


def main(argv=None) -> None:
    args = part_parser(__doc__).parse_args(argv)
    log = setup_logging(args.log)
    mine = source_structures(args)[args.part::args.parts]
    kept, dropped = [], []
    for atoms, why in perturbations(mine, args.settings, seed=args.seed * 1000 + args.part):
        (kept.append(atoms) if atoms is not None else dropped.append(why))
    log.info("perturbed %d source structures: kept %d, dropped %d%s", len(mine), len(kept), len(dropped),
             f" ({dropped[0]}, ...)" if dropped else "")
    write_frames(args.out, kept)


if __name__ == "__main__":
    main()
