#!/usr/bin/env python
"""Rule `evaluate`: a trained model on the real test set -> metrics.json, and with the options its
predictions, parity plot and dimer curves.

Per-atom energy RMSE (meV/atom) and force component RMSE (eV/A), MAE too, for all test structures and
per ``config_type``. ``--predictions``: the predicted test set (extxyz), so every number can be
recomputed; ``--parity``: the energy and force parity plot (per-atom energies coloured by config_type);
``--training``: the model's training.json, recorded in the metrics. With ``--dimer-out``, E(r) of every
element pair (synpre.dimer) from the same loaded model: one job, one torch start-up. Every file written
is one named on the command line.

Example:
  M=results/default/direct/pretrain-0/finetune-25/scratch/seed-0
  python scripts/evaluate.py --model $M/model.ckpt --training $M/training.json \
      --test results/default/reference/test.xyz --elements C --dimer-out $M/dimer.csv \
      --predictions $M/predictions.xyz --parity $M/parity.png --out $M/metrics.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from synpre.atomic import atomic_path, write_csv, write_frames, write_json
from synpre.cli import json_arg, parser, setup_logging
from synpre.datasets import read_frames
from synpre.dimer import dimer_rows
from synpre.labels import with_labels
from synpre.metrics import compare
from synpre.models import nequip_calculator, resolve_device
from synpre.parity import parity_from_frames
from synpre.threads import limit_threads


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--out", required=True, help="metrics.json")
    p.add_argument("--training", help="the model's training.json, recorded in the metrics")
    p.add_argument("--predictions", help="also write the predicted test set here (extxyz)")
    p.add_argument("--parity", help="also draw the parity plot here (png)")
    p.add_argument("--run-info", type=json_arg, default={}, help="experiment keys to record (JSON)")
    p.add_argument("--device", default="auto")
    p.add_argument("--remove-offset", action="store_true",
                   help="score energies with the mean per-atom offset removed (a test set of another energy "
                        "reference: the synthetic held-out set, rule forgetting)")
    p.add_argument("--dimer-out", help="also write E(r) of every pair of --elements here (dimer.csv)")
    p.add_argument("--elements", nargs="+", help="the model's elements, for --dimer-out")
    args = p.parse_args(argv)
    if args.dimer_out and not args.elements:
        p.error("--dimer-out needs --elements")
    log = setup_logging(args.log)
    limit_threads(args.threads, torch=True)
    device = resolve_device(args.device)
    calc = nequip_calculator(args.model, device)
    test = read_frames(args.test)
    preds = []
    t0 = time.perf_counter()
    for atoms in test:
        work = atoms.copy()
        work.calc = calc
        preds.append(with_labels(atoms, work.get_potential_energy(), work.get_forces(),
                                 info={"ref_energy": atoms.get_potential_energy()}))
    dt = time.perf_counter() - t0
    metrics = compare(test, preds, remove_offset=args.remove_offset)
    metrics.update(model=args.model, test=args.test, seconds_per_structure=dt / max(len(test), 1), device=device,
                   **args.run_info)
    if args.training:
        metrics["training"] = json.loads(Path(args.training).read_text())
    if args.predictions:
        write_frames(args.predictions, preds)
    if args.parity:
        with atomic_path(args.parity) as tmp:
            name = " ".join(f"{k}={v}" for k, v in args.run_info.items() if k != "study") or args.model
            parity_from_frames(test, preds, str(tmp), title=f"{name}: E {metrics['energy_rmse_meV_per_atom']:.1f} "
                               f"meV/atom, F {metrics['forces_rmse_eV_per_A']:.3f} eV/Å")
    if args.dimer_out:
        write_csv(args.dimer_out, pd.DataFrame(dimer_rows(calc, args.elements, args.model, args.run_info, log)))
    write_json(args.out, metrics)
    log.info("%s: E %.1f meV/atom, F %.3f eV/A on %d test structures", args.model,
             metrics["energy_rmse_meV_per_atom"], metrics["forces_rmse_eV_per_A"], len(test))


if __name__ == "__main__":
    main()
