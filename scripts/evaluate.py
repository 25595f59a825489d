#!/usr/bin/env python
"""Rule `evaluate`: a trained model on the real test set -> metrics.json beside the model, and its dimer
curves (dimer.csv).

Per-atom energy RMSE (meV/atom) and force component RMSE (eV/A), MAE too, for all test structures and
per ``config_type``. Predictions go to ``predictions.xyz`` so every number can be recomputed; the
energy and force parity plot to ``parity.png`` (per-atom energies coloured by config_type). With
``--dimer-out``, E(r) of every element pair (synpre.dimer) from the same loaded model: one job, one
torch start-up.

Example:
  python scripts/evaluate.py --model results/default/direct/pretrain-0/finetune-25/scratch/seed-0/model.ckpt \
      --test results/default/reference/test.xyz --elements C \
      --dimer-out results/default/direct/pretrain-0/finetune-25/scratch/seed-0/dimer.csv \
      --out results/default/direct/pretrain-0/finetune-25/scratch/seed-0/metrics.json
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
    p.add_argument("--out", required=True)
    p.add_argument("--run-info", type=json_arg, default={}, help="experiment keys to record (JSON)")
    p.add_argument("--device", default="auto")
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
    metrics = compare(test, preds)
    metrics.update(model=args.model, test=args.test, seconds_per_structure=dt / max(len(test), 1), device=device,
                   **args.run_info)
    training = Path(args.model).with_name("training.json")
    if training.exists():
        metrics["training"] = json.loads(training.read_text())
    write_frames(Path(args.out).with_name("predictions.xyz"), preds)
    with atomic_path(Path(args.out).with_name("parity.png")) as tmp:
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
