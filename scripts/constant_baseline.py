#!/usr/bin/env python
"""Rule `constant_baseline`: the constant predictor fitted to the same N_real training structures as the
models (per-atom energy = their mean, forces = 0), scored on the real test set exactly like a model.

A trained model that does not beat it has learnt nothing about the energy; summary.md shows it as a
row and runs.csv marks every model against it (beats_constant).

Example:
  python scripts/constant_baseline.py --train results/default/reference/train-10.xyz \
      --test results/default/reference/test.xyz \
      --run-info '{"study": "default", "n_real": 10}' \
      --out results/default/constant/pretrain-0/finetune-10/mean/seed-0/metrics.json
"""

from __future__ import annotations

import numpy as np

from synpre.atomic import write_json
from synpre.cli import json_arg, parser, setup_logging
from synpre.datasets import read_frames
from synpre.labels import with_labels
from synpre.metrics import compare


def constant_predictions(train, test) -> tuple[float, list]:
    """The mean per-atom energy of ``train`` and the test structures labelled with it (zero forces)."""
    e_per_atom = float(np.mean([a.get_potential_energy() / len(a) for a in train]))
    preds = [with_labels(a, e_per_atom * len(a), np.zeros((len(a), 3))) for a in test]
    return e_per_atom, preds


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--train", required=True, help="the N_real training structures")
    p.add_argument("--test", required=True)
    p.add_argument("--run-info", type=json_arg, default={}, help="experiment keys to record (JSON)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    train, test = read_frames(args.train), read_frames(args.test)
    e_per_atom, preds = constant_predictions(train, test)
    metrics = compare(test, preds)
    metrics.update(dict(teacher="constant", strategy="mean", n_synth=0, seed=0, n_real=len(train)), **args.run_info)
    metrics.update(model="constant predictor", energy_per_atom_eV=e_per_atom, train=args.train, test=args.test)
    write_json(args.out, metrics)
    log.info("constant %.4f eV/atom from %d structures: E %.1f meV/atom, F %.3f eV/A on %d test structures",
             e_per_atom, len(train), metrics["energy_rmse_meV_per_atom"], metrics["forces_rmse_eV_per_A"], len(test))


if __name__ == "__main__":
    main()
