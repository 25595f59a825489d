#!/usr/bin/env python
"""Rule `synthetic_lmdb`: a pre-training set (extxyz) streamed into a NequIP LMDB file, so that
pre-training reads its structures from disk batch by batch instead of holding them all in memory
(config synthetic_storage: lmdb). The file appears complete or not at all.

Example:
  python scripts/to_lmdb.py --xyz results/paper/gap17/synthetic-100000.xyz \
      --out results/paper/gap17/synthetic-100000.lmdb
"""

from __future__ import annotations

import time

from synpre.cli import fail, parser, setup_logging
from synpre.storage import extxyz_to_lmdb


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--xyz", required=True, help="extxyz file of labelled structures")
    p.add_argument("--out", required=True, help="the LMDB file to write (one file, no directory)")
    p.add_argument("--map-size", type=int, help="LMDB map size in bytes (default: from the input's size)")
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    t0 = time.perf_counter()
    try:
        info = extxyz_to_lmdb(args.xyz, args.out, map_size=args.map_size)
    except (OSError, ValueError) as exc:
        fail(f"cannot convert {args.xyz} to {args.out}: {exc}")
    log.info("%d structures of %s -> %s in %.1f s (%.1f MB on disk, %.1f MB extxyz; map %.0f MB, sparse)",
             info["frames"], args.xyz, args.out, time.perf_counter() - t0, info["disk_bytes"] / 1e6,
             info["input_bytes"] / 1e6, info["map_size"] / 1e6)


if __name__ == "__main__":
    main()
