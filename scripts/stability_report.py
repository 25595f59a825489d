#!/usr/bin/env python
"""Rule `stability_report` (the target that runs stability alone): every stability-<T>K.json of the
models and the calibrating teacher -> stability.csv (one row per run), survival.csv (per hold temperature,
N_real and arm: survival fraction with its 95 % Wilson interval, censored median time to failure, log-rank
p against direct), survival.png (Kaplan-Meier curves), rdf.png and stability.md (synpre.survival).

Example:
  python scripts/stability_report.py \
      --stability results/default/*/pretrain-*/finetune-*/*/seed-*/stability-*K.json \
      --rdf results/default/*/pretrain-*/finetune-*/*/seed-*/rdf-*K.json \
      --teachers results/default/teachers/gap-fit/stability-*K.json \
      --csv results/default/stability.csv --survival-csv results/default/survival.csv \
      --survival results/default/survival.png --rdf-figure results/default/rdf.png \
      --summary results/default/stability.md
"""

from __future__ import annotations

import json
from pathlib import Path

from synpre.atomic import atomic_path, write_csv, write_text
from synpre.cli import parser, setup_logging
from synpre.survival import (rdf_figure, stability_table, survival_figure, survival_markdown, survival_table,
                             thresholds_table)


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--stability", nargs="*", default=[], help="the models' stability-<T>K.json files")
    p.add_argument("--rdf", nargs="*", default=[], help="the models' rdf-<T>K.json files (rdf-<T>K.csv beside each)")
    p.add_argument("--teachers", nargs="*", default=[], help="the calibrating teacher's stability-<T>K.json files")
    p.add_argument("--disabled", action="store_true", help="stability.enabled is false: write the report saying so")
    p.add_argument("--csv", required=True, help="one row per run (stability.csv)")
    p.add_argument("--survival-csv", required=True, help="per arm: survival, median, log-rank (survival.csv)")
    p.add_argument("--survival", required=True, help="Kaplan-Meier curves (survival.png)")
    p.add_argument("--rdf-figure", required=True, help="RDFs of the holds against the reference (rdf.png)")
    p.add_argument("--summary", required=True, help="the markdown report (stability.md)")
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    table = stability_table(args.stability, args.rdf, args.teachers)
    survival = survival_table(table)
    write_csv(args.csv, table)
    write_csv(args.survival_csv, survival)
    with atomic_path(args.survival) as tmp:
        survival_figure(table, str(tmp))
    with atomic_path(args.rdf_figure) as tmp:
        rdf_figure(args.rdf, str(tmp))
    first = args.teachers[:1] or args.stability[:1]
    settings = json.loads(Path(first[0]).read_text()).get("settings") if first else None
    write_text(args.summary, survival_markdown(table, survival, thresholds_table(args.teachers, args.stability),
                                               settings, disabled=args.disabled))
    log.info("%d stability runs, %d arms:\n%s", len(table), len(survival),
             survival.drop(columns=["logrank_chi2"]).to_string() if len(survival) else "(none)")


if __name__ == "__main__":
    main()
