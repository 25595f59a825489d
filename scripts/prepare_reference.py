#!/usr/bin/env python
"""Rule `prepare_reference`: real data -> validated, isolated-atom-referenced train pool / val / test.

Example:
  python scripts/prepare_reference.py --settings @reference.json --elements C \
      --out-dir results/default/reference
"""

from __future__ import annotations

from pathlib import Path

from synpre.atomic import write_frames, write_json
from synpre.cli import fail, json_arg, parser, setup_logging
from synpre.datasets import DatasetError
from synpre.reference import prepare


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--settings", type=json_arg, required=True, help="the config's `reference` section")
    p.add_argument("--elements", nargs="+", required=True)
    p.add_argument("--out-dir", required=True)
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    try:
        parts = prepare(args.settings, args.elements)
    except DatasetError as exc:
        fail(str(exc))
    out = Path(args.out_dir)
    summary = {}
    for name, frames in parts.items():
        write_frames(out / f"{name}.xyz", frames)
        e = [a.get_potential_energy() / len(a) for a in frames]
        summary[name] = {"n": len(frames), "per_atom_energy_mean": float(sum(e) / len(e)),
                         "config_types": sorted({str(a.info.get("config_type", "-")) for a in frames})}
        log.info("%s: %d structures", name, len(frames))
    write_json(out / "summary.json", summary)


if __name__ == "__main__":
    main()
