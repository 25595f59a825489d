#!/usr/bin/env python
"""Rule `md_speed`: the MD cost of one final model (config md_speed): Langevin MD from the first real test
structure on the job's threads, timed after a warm-up (synpre.stability.md_speed, the same measurement the
zero-shot baselines make of their teacher) -> md_speed.json, which aggregate puts beside the model's errors.

Example:
  M=results/default/direct/pretrain-0/finetune-25/scratch/seed-0
  python scripts/md_speed.py --model $M/model.nequip.zip --start results/default/reference/test.xyz \
      --settings '{"steps": 100, "warmup": 5, "temperature": 1000}' --out $M/md_speed.json
"""

from __future__ import annotations

from synpre.atomic import write_json
from synpre.cli import json_arg, parser, setup_logging
from synpre.datasets import read_frames
from synpre.models import add_calculator_args, calculator_from_args
from synpre.stability import md_speed


def main(argv=None) -> None:
    p = parser(__doc__)
    add_calculator_args(p)
    p.add_argument("--start", required=True, help="structures to start from (the first one is used)")
    p.add_argument("--settings", type=json_arg, required=True, help="the config's md_speed section (JSON)")
    p.add_argument("--run-info", type=json_arg, default={})
    p.add_argument("--out", required=True, help="md_speed.json")
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    s = args.settings
    calc, who = calculator_from_args(args)
    start = read_frames(args.start)[0]
    result = md_speed(start, calc, int(s["steps"]), int(s.get("warmup", 5)), float(s.get("temperature", 1000)))
    result.update(args.run_info, model=args.model or who, threads=args.threads, start=args.start)
    write_json(args.out, result)
    log.info("%s: %.2f MD steps/s (%d atoms, %d steps after %d warm-up, %d thread(s))", who,
             result["md_steps_per_second"], result["md_atoms"], result["md_steps"], result["md_warmup_steps"],
             args.threads)


if __name__ == "__main__":
    main()
