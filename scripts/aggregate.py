#!/usr/bin/env python
"""Rule `aggregate`: every run's metrics.json -> runs.csv (one row per run), curves.csv (mean, std and
number of seeds per point of every learning curve), learning_curves.png (error bars: std), the
teachers' table and summary.md (the paper's table layout: rows N_real, columns direct + each source).

Example:
  python scripts/aggregate.py --metrics results/default/*/pretrain-*/finetune-*/*/seed-*/metrics.json \
      --csv results/default/runs.csv --curves results/default/curves.csv \
      --figure results/default/learning_curves.png
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from synpre.aggregate import (curves_table, dimer_figure, dimer_markdown, dimer_table, learning_curves,
                              mark_against_constant, missing_markdown, nsynth_figure, runs_table, summary_markdown,
                              teachers_table, with_md_speed, forgetting_table, forgetting_markdown,
                              with_forgetting, pretraining_markdown, pretraining_table)
from synpre.atomic import atomic_path, write_csv, write_text
from synpre.cli import fail, parser, setup_logging
from synpre.headline import efficiency_figure, headline_markdown, headline_table


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--metrics", nargs="+", required=True)
    p.add_argument("--baselines", nargs="*", default=[],
                   help="metrics.json of the baselines per N_real: the constant predictor (scripts/constant_baseline.py) "
                        "and zero-shot teachers (scripts/zero_shot.py)")
    p.add_argument("--md-speed", nargs="*", default=[], help="md_speed.json of the models (scripts/md_speed.py)")
    p.add_argument("--forgetting", nargs="*", default=[],
                   help="forgetting.json of pre-trained and fine-tuned models (rule forgetting)")
    p.add_argument("--pretraining", nargs="*", default=[],
                   help="training.json of the pre-trained models: their stop and synthetic validation errors")
    p.add_argument("--csv", required=True)
    p.add_argument("--curves", help="where to write mean ± std per learning-curve point")
    p.add_argument("--figure", required=True)
    p.add_argument("--headline", help="where to write the computed %% cuts and data-efficiency factors (CSV)")
    p.add_argument("--efficiency-figure", help="the data-efficiency factors drawn on the direct curve")
    p.add_argument("--nsynth-figure", help="test errors against N_synth, one line per N_real")
    p.add_argument("--title", default="")
    p.add_argument("--teacher-reports", nargs="*", default=[], help="teachers' report.json files")
    p.add_argument("--teachers-csv", help="where to write the teachers' table")
    p.add_argument("--summary", help="markdown summary in the paper's table layout")
    p.add_argument("--stability-summary", help="the stability report (stability.md, rule stability_report) to "
                                               "append to --summary")
    p.add_argument("--stability-target", help="stability runs apart from this target (stability.in_all: false): "
                                              "--summary names the file the target stability_report writes")
    p.add_argument("--dimer-curves", nargs="*", default=[], help="dimer.csv files of models and teachers")
    p.add_argument("--dimer-figure", help="where to draw the dimer curves")
    p.add_argument("--allow-missing", action="store_true",
                   help="aggregate what exists after failed jobs: missing runs are marked in runs.csv and summary.md")
    args = p.parse_args(argv)
    log = setup_logging(args.log)
    # `{input.x:q}` of an empty input list passes one empty argument
    reports, dimer_files = ([f for f in files if f] for files in (args.teacher_reports, args.dimer_curves))
    if args.allow_missing:
        reports, dimer_files = ([f for f in files if Path(f).exists()] for files in (reports, dimer_files))
    elif missing := [f for f in [*args.metrics, *args.baselines] if f and not Path(f).exists()]:
        fail(f"{len(missing)} metrics files do not exist (first: {missing[0]}); run their evaluate targets, "
             "or pass --allow-missing to aggregate the rest with those runs marked missing")
    constant = runs_table([f for f in args.baselines if f and Path(f).exists()])  # all exist unless --allow-missing
    speed_files = [f for f in args.md_speed if f and Path(f).exists()]
    forgetting = forgetting_table([f for f in args.forgetting if f and Path(f).exists()])
    runs = mark_against_constant(with_forgetting(with_md_speed(runs_table(args.metrics), speed_files), forgetting),
                                 constant)
    write_csv(args.csv, pd.concat([runs, constant], ignore_index=True) if len(constant) else runs)
    df = runs[runs["status"] == "ok"]
    if df.empty:
        fail("no run has its metrics.json yet: nothing to aggregate")
    if args.curves:
        write_csv(args.curves, curves_table(df))
    with atomic_path(args.figure) as tmp:
        learning_curves(df, str(tmp), args.title, constant)
    if args.nsynth_figure:
        with atomic_path(args.nsynth_figure) as tmp:
            nsynth_figure(df, str(tmp), args.title)
    headline = headline_table(df)
    if args.headline:
        write_csv(args.headline, headline)
    if args.efficiency_figure:
        with atomic_path(args.efficiency_figure) as tmp:
            efficiency_figure(df, headline, str(tmp))
    teachers = teachers_table(reports)
    if args.teachers_csv:
        write_csv(args.teachers_csv, teachers)
    if args.stability_summary and Path(args.stability_summary).exists():
        stability = Path(args.stability_summary).read_text()
    elif args.stability_target:
        stability = ("## MD stability\n\nNot part of this target (`stability.in_all: false`): run "
                     f"`snakemake --cores 2 stability_report` for {args.stability_target}, its tables and figures.\n")
    else:
        stability = ""
    if args.dimer_figure:
        with atomic_path(args.dimer_figure) as tmp:
            dimer_figure(dimer_files, str(tmp))
    if args.summary:
        parts = [summary_markdown(df, teachers, missing_markdown(runs), constant), headline_markdown(headline),
                 pretraining_markdown(pretraining_table([f for f in args.pretraining if f and Path(f).exists()])),
                 forgetting_markdown(forgetting), stability, dimer_markdown(dimer_table(dimer_files))]
        write_text(args.summary, "\n".join(p for p in parts if p))
    stale = Path(args.csv).parent / "partial"  # the partial aggregate of an earlier, failed run (rule onerror)
    if not args.allow_missing and stale.is_dir():
        shutil.rmtree(stale)
        log.info("removed %s: the partial tables of an earlier run with failed jobs, replaced by these", stale)
    summary = df.groupby(["teacher", "strategy", "n_synth", "n_real"])[["energy_rmse_meV_per_atom", "forces_rmse_eV_per_A"]]
    log.info("mean over seeds:\n%s", summary.mean().round(3).to_string())


if __name__ == "__main__":
    main()
