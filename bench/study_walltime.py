#!/usr/bin/env python
"""Benchmark: wall time of a whole study from nothing (all of results/<study>/ removed first).

Prints the machine, the date, the command, the total wall time and the per-rule time from the
benchmark TSVs that every rule writes. Not a test: run it by hand and copy the table into
docs/default-study/README.md (Measured wall time).

  python bench/study_walltime.py --configfile config/quick.yaml --cores 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import header  # noqa: E402

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
# evaluation beyond test-set RMSE (evaluate itself, the teacher report and aggregate were there before);
# exporting the models people use is counted apart. A model's dimer curve runs inside evaluate (~3 s) and
# its RDF inside stability; rdf and dimer were jobs of their own before, and still count in older results.
EVALUATION = {"stability", "teacher_stability", "stability_report", "rdf", "dimer", "teacher_dimer"}
EXPORT = {"package", "compile"}


def per_rule_times(out: Path) -> pd.DataFrame:
    """Jobs, summed and longest seconds and peak RSS per rule, from the benchmark TSVs under ``out``."""
    rows = []
    for tsv in out.rglob("*.tsv"):
        parts = tsv.relative_to(out).parts
        if "benchmarks" not in parts[:-1]:
            continue
        rule = parts[parts.index("benchmarks") + 1].removesuffix(".tsv")
        b = pd.read_csv(tsv, sep="\t")
        rows.append({"rule": rule, "seconds": float(b["s"].iloc[0]), "max_rss_MB": float(b["max_rss"].iloc[0])})
    return pd.DataFrame(rows).groupby("rule").agg(jobs=("seconds", "size"), total_s=("seconds", "sum"),
                                                  max_s=("seconds", "max"), max_rss_MB=("max_rss_MB", "max"))


def overheads(per_rule: pd.DataFrame) -> str:
    """Job time of the evaluation beyond RMSE and of the model export, each against the study without both."""
    total = per_rule["total_s"]
    evaluation, export = total[total.index.isin(EVALUATION)].sum(), total[total.index.isin(EXPORT)].sum()
    core = total.sum() - evaluation - export
    return (f"job time: {core / 60:.1f} min for the study itself; evaluation beyond RMSE "
            f"({', '.join(sorted(set(total.index) & EVALUATION))}) adds {evaluation / 60:.1f} min "
            f"({100 * evaluation / core:.0f} %), model export ({', '.join(sorted(set(total.index) & EXPORT))}) "
            f"{export / 60:.1f} min ({100 * export / core:.0f} %)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configfile", default="config/config.yaml")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--keep", action="store_true", help="do not delete existing results first")
    args = p.parse_args()
    study = yaml.safe_load((ROOT / args.configfile).read_text())["study"]
    out = ROOT / "results" / study
    if out.exists() and not args.keep:
        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(args.cores), "--configfile", args.configfile]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env)
    wall = time.perf_counter() - t0
    per_rule = per_rule_times(out)
    print("\n" + header(command=f"{' '.join(['snakemake'] + cmd[3:])}  (exit {proc.returncode})"))
    print(f"wall time: {wall / 60:.1f} min ({wall:.0f} s); job time summed over rules: "
          f"{per_rule['total_s'].sum() / 60:.1f} min")
    print(per_rule.round(1).to_string())
    print(overheads(per_rule))
    if (out / "runs.csv").exists():
        df = pd.read_csv(out / "runs.csv")
        print(df.groupby(["teacher", "n_synth", "n_real"])[["energy_rmse_meV_per_atom", "forces_rmse_eV_per_A"]]
              .agg(["mean", "std"]).round(3).to_string())
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
