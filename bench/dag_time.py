#!/usr/bin/env python
"""Benchmark: what Snakemake itself costs.

1. `snakemake -n` on the paper's config (the largest DAG shipped; its external data and potential are
   replaced by empty stand-ins, enough for a dry run) and on the default config: seconds and jobs.
   `snakemake --version` is timed too: Python and snakemake's own imports, the floor of any call.
2. Per-job overhead: in a finished study, `snakemake --cores 1 -f <target>` reruns one job; its wall
   time minus the job's own time (its benchmark TSV, which includes the script's Python start-up)
   is what Snakemake adds per job. The script's start-up alone (`--help`: imports) is printed beside.

Prints the machine, the date and the command.

  python bench/dag_time.py --study-dir /path/to/a/clone/with/results/default
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import header  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# one cheap job per kind: (target under results/default, its benchmark TSV, its script)
JOBS = [
    ("reference/train-10.xyz", "benchmarks/subset_real/train-10.tsv", "subset.py"),
    ("direct/pretrain-0/finetune-10/scratch/seed-0/metrics.json",
     "benchmarks/evaluate/direct/pretrain-0/finetune-10/scratch/seed-0.tsv", "evaluate.py"),
    ("runs.csv", "benchmarks/aggregate.tsv", "aggregate.py"),
]


def timed_all(cmd: list[str], cwd: Path, repeats: int = 1) -> tuple[list[float], str]:
    walls, out = [], ""
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        out = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{out[-3000:]}")
    return walls, out


def timed(cmd: list[str], cwd: Path, repeats: int = 1) -> tuple[float, str]:
    walls, out = timed_all(cmd, cwd, repeats)
    return statistics.median(walls), out


def n_jobs(log: str) -> int:
    m = re.search(r"^total\s+(\d+)", log, re.M)
    return int(m.group(1)) if m else 0


def paper_config(tmp: Path) -> Path:
    text = (ROOT / "config" / "paper.yaml").read_text().replace("data/external/", f"{tmp}/")
    for name in ("C-GAP-17.extxyz", "gap17/gap17.xml"):
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).touch()
    (tmp / "paper.yaml").write_text(text)
    return tmp / "paper.yaml"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study-dir", help="a checkout with a finished default study (for the per-job overhead)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("snakemake --version", timed_all(SNAKEMAKE + ["--version"], ROOT, args.repeats)[0], None))
        for name, cfg in (("paper", paper_config(Path(tmp))), ("default", ROOT / "config" / "config.yaml")):
            walls, log = timed_all(SNAKEMAKE + ["-n", "--forceall", "--nolock", "--configfile", str(cfg), "--quiet",
                                                "rules"], ROOT, args.repeats)
            rows.append((f"snakemake -n, {name} config", walls, n_jobs(log)))
    overhead = []
    if args.study_dir:
        study = Path(args.study_dir)
        for target, tsv, script in JOBS:
            wall, _ = timed(SNAKEMAKE + ["--cores", "1", "-f", f"results/default/{target}"], study)
            job_s = float((study / "results/default" / tsv).read_text().splitlines()[-1].split("\t")[0])
            start, _ = timed([sys.executable, str(ROOT / "scripts" / script), "--help"], ROOT, args.repeats)
            overhead.append((target, wall, job_s, start))

    print(header())
    # this VM's speed drifts by up to 1.7x within minutes: the spread is part of the result
    print(f"\n{'what':40}{'median s':>10}{'min s':>8}{'max s':>8}{'runs':>6}{'jobs':>8}")
    for what, walls, jobs in rows:
        print(f"{what:40}{statistics.median(walls):>10.2f}{min(walls):>8.2f}{max(walls):>8.2f}{len(walls):>6}"
              f"{jobs if jobs is not None else '':>8}")
    if overhead:
        print(f"\none job rerun with `snakemake --cores 1 -f <target>` in {args.study_dir}")
        print(f"{'target':60}{'wall s':>8}{'job s':>8}{'snakemake s':>12}{'script start-up s':>19}")
        for target, wall, job_s, start in overhead:
            print(f"{target:60}{wall:>8.2f}{job_s:>8.2f}{wall - job_s:>12.2f}{start:>19.2f}")


if __name__ == "__main__":
    main()
