#!/usr/bin/env python
"""Rule `subset`: the first N structures of a (pre-permuted) pool, so subsets are nested.

Example:
  python scripts/subset.py --pool results/default/reference/train_pool.xyz --n 25 \
      --out results/default/reference/train-25.xyz
"""

from __future__ import annotations

from synpre.atomic import write_frames
from synpre.cli import fail, parser, setup_logging
from synpre.datasets import read_frames


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--pool", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--what", default="n_real", help="config key named in the error message")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    frames = read_frames(args.pool)
    if args.n > len(frames):
        fail(f"{args.what}={args.n} is larger than the pool: {len(frames)} structures in {args.pool}; "
             f"lower {args.what} (for n_real, or reference.split.n_val) or add data")
    write_frames(args.out, frames[: args.n])
    log.info("first %d of %d structures of %s", args.n, len(frames), args.pool)


if __name__ == "__main__":
    main()
