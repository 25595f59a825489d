#!/usr/bin/env python
"""Rule `merge_synthetic`: labelled shards -> one permuted synthetic pool + a held-out validation set.

The pool is shuffled once with a fixed seed; pre-training on N_synth uses its first N_synth structures
(nested across the sweep), validation is the last ``n_val`` structures, never trained on.

Example:
  python scripts/merge_synthetic.py --inputs results/default/gap-fit/labels/shard-*.xyz --n-val 40 --seed 0 \
      --pool results/default/gap-fit/synthetic_pool.xyz --val results/default/gap-fit/synthetic_val.xyz
"""

from __future__ import annotations

import numpy as np

from synpre.atomic import write_frames
from synpre.cli import fail, json_arg, parser, setup_logging
from synpre.datasets import read_frames


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--inputs", nargs="+", required=True)
    p.add_argument("--n-val", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pool", required=True)
    p.add_argument("--val", required=True)
    p.add_argument("--alchemy", type=json_arg, default=None,
                   help='{"species_map": {"C": "Si"}, "cell_scale": 1.5}: transmute the synthetic structures')
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    frames = [a for path in args.inputs for a in read_frames(path)]
    if args.n_val >= len(frames):
        fail(f"only {len(frames)} synthetic structures were labelled, fewer than n_val_synth={args.n_val} + 1; "
             "sample more trajectories (sampling.densities / anneal_temperatures / repeats)")
    if args.alchemy:
        from synpre.alchemy import transmute

        frames = [transmute(a, args.alchemy["species_map"], float(args.alchemy.get("cell_scale", 1.0)))
                  for a in frames]
        log.info("alchemy: %s, cell x %s", args.alchemy["species_map"], args.alchemy.get("cell_scale", 1.0))
    perm = np.random.default_rng(args.seed).permutation(len(frames))
    frames = [frames[i] for i in perm]
    write_frames(args.val, frames[len(frames) - args.n_val:])
    write_frames(args.pool, frames[: len(frames) - args.n_val])
    log.info("synthetic pool: %d structures for pre-training, %d for validation", len(frames) - args.n_val,
             args.n_val)


if __name__ == "__main__":
    main()
