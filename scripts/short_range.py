#!/usr/bin/env python
"""Rule `short_range`: short-range synthetic structures (synpre.short_range), unlabelled: dimers of every
element pair, random trimers, compressed copies of the real training cells. Part k of K takes every K-th
dimer and trimer and the source cells k, k+K, ..., so parts run as jobs (one per labelling shard).

Example:
  python scripts/short_range.py --inputs results/default/reference/train_pool.xyz --elements C --part 0 --parts 4 \
      --settings '{"dimers": 30, "trimers": 40, "r_min": 0.6, "r_max": 2.0, "box": 15.0,
                   "compressed_scales": [0.85, 0.9], "max_sources": 20, "min_distance": 0.5, "seed": 0}' \
      --out results/default/synthetic/short_range/part-0.xyz
"""

from __future__ import annotations

from collections import Counter

from synpre.atomic import write_frames
from synpre.cli import fail, part_parser, setup_logging, source_structures
from synpre.short_range import short_range_part


def main(argv=None) -> None:
    p = part_parser(__doc__)
    p.add_argument("--elements", nargs="+", required=True, help="elements of the dimers and trimers")
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    try:
        frames, dropped = short_range_part(args.elements, args.settings, source_structures(args), args.part, args.parts)
    except ValueError as exc:
        fail(str(exc))
    counts = Counter(a.info["config_type"] for a in frames)
    log.info("part %d of %d: %s; %d compressed copies dropped (atoms closer than %s A)", args.part, args.parts,
             ", ".join(f"{n} {ct}" for ct, n in sorted(counts.items())) or "nothing", dropped,
             args.settings["min_distance"])
    write_frames(args.out, frames)


if __name__ == "__main__":
    main()
