"""The SLURM profile on a real scheduler: a one-node SLURM cluster on localhost (tests/slurm/local_cluster.sh)
runs the tiny study through `--profile profiles/slurm`. Skipped, with the reason printed, where SLURM
cannot start (not root, not installed, or a real cluster's configuration present)."""

import os
import re
import subprocess

import pytest
import yaml

from conftest import ROOT, TINY_OUTPUTS, scratch_copy, snakemake

pytestmark = pytest.mark.e2e  # the end-to-end tier (tests/README.md)
CLUSTER = ROOT / "tests" / "slurm" / "local_cluster.sh"
# the profile's first status check comes after 40 s and then every 30 s: right for a real queue, slow here
FAST_POLL = ("--slurm-init-seconds-before-status-checks", "5", "--seconds-between-status-checks", "5")


@pytest.fixture(scope="module")
def slurm():
    if os.name != "posix" or not CLUSTER.exists():
        pytest.skip("SLURM test needs Linux")
    proc = subprocess.run(["bash", str(CLUSTER), "start"], capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        pytest.skip(f"a local SLURM cluster could not start: {(proc.stdout + proc.stderr).strip()[-600:]}")
    yield proc.stdout
    subprocess.run(["bash", str(CLUSTER), "stop"], capture_output=True, timeout=60)


def submitted(log: str) -> dict:
    """{rule: number of jobs sbatch accepted} from a snakemake log."""
    counts = {}
    for rule in re.findall(r"submitted with SLURM jobid \d+ \(log: \S*/slurm_logs/rule_(\w+)/", log):
        counts[rule] = counts.get(rule, 0) + 1
    return counts


def test_tiny_study_through_the_slurm_profile(slurm, tmp_path):
    """A bad submission fails per job with SLURM's message while the rest goes on; then the study completes."""
    work = scratch_copy(tmp_path)
    tiny = (work / "tests/config/tiny.yaml").read_text()
    # a GPU request on a node without GPUs, and a partition that does not exist
    bad = tiny.replace("\ncluster:", "\ngpu: true\ncluster:", 1).replace(
        "resources: {default: {mem_mb: 1000, runtime: 30}}",
        "resources: {default: {mem_mb: 1000, runtime: 30}, teacher_dimer: {slurm_partition: nosuch}}")
    assert bad != tiny and "teacher_dimer" in bad
    (work / "bad.yaml").write_text(bad)
    first = snakemake("--profile", "profiles/slurm", "--configfile", "bad.yaml", *FAST_POLL, cwd=work, check=False,
                      slurm=True)
    log = first.stdout + first.stderr
    assert first.returncode != 0
    assert re.search(r"SLURM sbatch failed.*[Ii]nvalid generic resource", log), log[-3000:]
    assert re.search(r"SLURM sbatch failed.*[Ii]nvalid partition", log), log[-3000:]
    ran = submitted(log)
    # keep-going (the profile's): every job that needs no GPU and no bad partition still ran on SLURM
    assert ran.get("label") == 2 and ran.get("teacher") == 1 and ran.get("merge_synthetic") == 1, ran
    out = work / "results" / "tiny"
    assert (out / "gap-tiny/synthetic_pool.xyz").stat().st_size > 0
    assert not (out / "gap-tiny/pretrain-8/model.ckpt").exists()

    second = snakemake("--profile", "profiles/slurm", "--configfile", "tests/config/tiny.yaml", *FAST_POLL, cwd=work,
                       slurm=True)
    log = second.stdout + second.stderr
    ran = submitted(log)
    # only what failed or waited on a failure runs again, each job as its own SLURM job
    assert "label" not in ran and "teacher" not in ran, ran
    strategies = len(yaml.safe_load(tiny)["finetune"]["strategies"])  # full, energy-only, replay
    assert ran.get("pretrain") == 1 and ran.get("finetune") == strategies and ran.get("direct") == 1, ran
    assert ran.get("teacher_dimer") == 1, ran
    for rel in TINY_OUTPUTS:
        assert (out / rel).stat().st_size > 0, rel
    # each job asked SLURM for the study config's resources
    q = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%j|%m|%l|%C"], capture_output=True,
                       text=True).stdout
    assert re.search(r"\|1000M\|30:00\|1$", q, re.M), q
