import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# every output file of the tiny study (tests/config/tiny.yaml), under results/tiny/
TINY_OUTPUTS = (
    "reference/train_pool.xyz",
    "reference/test.xyz",
    "teachers/gap-tiny/teacher.json",
    "gap-tiny/synthetic_pool.xyz",
    "gap-tiny/pretrain-8/model.ckpt",
    "gap-tiny/pretrain-8/finetune-5/full/seed-0/model.ckpt",
    "direct/pretrain-0/finetune-5/scratch/seed-0/model.ckpt",
    "gap-tiny/pretrain-8/finetune-5/energy-only/seed-0/model.ckpt",
    "gap-tiny/pretrain-8/finetune-5/replay/seed-0/model.ckpt",
    "gap-tiny/pretrain-8/finetune-5/replay/seed-0/forgetting.json",
    "gap-tiny/pretrain-8/forgetting.json",
    "curves.csv",
    "gap-tiny/pretrain-8/finetune-5/full/seed-0/model.nequip.zip",
    "direct/pretrain-0/finetune-5/scratch/seed-0/model.nequip.zip.json",
    "headline.csv",
    "data_efficiency.png",
    "nsynth_trend.png",
    "constant/pretrain-0/finetune-5/mean/seed-0/metrics.json",
    "stability.csv",
    "survival.csv",
    "stability.md",
    "survival.png",
    "dimer_curves.png",
    "rdf.png",
    "teachers/gap-tiny/stability-2000K.xyz",
    "teachers/gap-tiny/stability-1500K.json",
    "direct/pretrain-0/finetune-5/scratch/seed-0/rdf-2000K.csv",
    "gap-tiny/pretrain-8/finetune-5/full/seed-0/stability-1500K.json",
    "teachers/gap-tiny/dimer.csv",
    "gap-tiny/pretrain-8/finetune-5/full/seed-0/dimer.csv",
    "direct/pretrain-0/finetune-5/scratch/seed-0/parity.png",
    "learning_curves.png",
    "runs.csv",
)
sys.path.insert(0, str(ROOT / "scripts"))


def snakemake_env(env=None, slurm=False) -> dict:
    """The environment a test's snakemake runs in: this environment's python and entry points first on
    PATH. Without ``slurm``, tests/no_slurm hides scontrol from the slurm plugin's start-up probe (see the file)."""
    env = dict(env or os.environ)
    first = [str(Path(sys.executable).parent)] + ([] if slurm else [str(ROOT / "tests" / "no_slurm")])
    env["PATH"] = os.pathsep.join(first + [env["PATH"]])
    return env


def snakemake(*args, cwd=ROOT, check=True, timeout=1800, env=None, slurm=False):
    """Run snakemake (see snakemake_env) and return the finished process; fail the test on error if ``check``."""
    env = snakemake_env(env, slurm)
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def job_counts(log: str) -> dict:
    """The first 'Job stats' table of a snakemake log as {rule: count} (a dry run prints it twice)."""
    lines = log.split("Job stats:", 1)[1].splitlines() if "Job stats:" in log else []
    counts = {}
    for line in lines[3:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def shell_commands(log: str) -> dict:
    """{rule: [shell command of each job]} from the output of a dry run with -p."""
    cmds = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", log):
        rule, cmd = re.match(r"(?:local)?rule (\w+):", block), re.search(r"Shell command: (.*)", block)
        if rule and cmd:
            cmds.setdefault(rule.group(1), []).append(cmd.group(1))
    return cmds


def scratch_copy(work):
    """The workflow's files copied into ``work``, so a test's results/ and .snakemake/ stay out of the repo."""
    import shutil

    for item in ("Snakefile", "workflow", "scripts", "config", "envs", "data", "tests", "profiles"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / item)
    return work


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="module")
def real(root, tmp_path_factory):
    """12 training, 4 validation and 6 test cells: a small slice of the shipped GFN1-xTB reference set,
    prepared as the pipeline prepares it."""
    from ase.io import write

    from synpre.reference import prepare

    d = tmp_path_factory.mktemp("real")
    settings = {"files": [str(root / "data" / "carbon-gfn1-64.extxyz.gz")], "energy_key": "energy",
                "forces_key": "forces", "isolated_atom_energies": {"C": -47.37872264431578}, "exclude": {},
                "split": {"key": "split", "test_value": "test", "n_val": 4, "seed": 0, "test_fraction": 0.2}}
    parts = prepare(settings, ["C"])
    for name, n in (("train_pool", 12), ("val", 4), ("test", 6)):
        write(d / f"{name}.xyz", parts[name][:n])
    return d


# The end-to-end tier (tests/README.md): a test that uses one of these fixtures runs a study, trains a model
# or starts the SLURM cluster, so it must carry @pytest.mark.e2e. Collection stops otherwise, instead of
# such a test slowing down the unit tier unnoticed.
E2E_FIXTURES = {"tiny_study", "study_report", "scratch_model", "uninterrupted", "slurm"}
# `make test` spreads each tier over the cores with pytest-xdist, one test file per worker at a time
# (--dist loadfile), so a module-scoped study fixture is built once. Files are handed out in collection order:
# the slowest end-to-end files go first (measured: tests/README.md), so no long file starts last.
SLOWEST_FIRST = ("test_studies", "test_slurm", "test_models", "test_tiny_study")


def pytest_collection_modifyitems(config, items):
    unmarked = [item.nodeid for item in items
                if E2E_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("e2e") is None]
    if unmarked:
        raise pytest.UsageError("tests that use a study, training or SLURM fixture must be marked "
                                f"@pytest.mark.e2e (tests/README.md): {', '.join(unmarked)}")
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}

    def file_rank(item):
        return rank.get(getattr(getattr(item, "module", None), "__name__", ""), len(rank))

    items.sort(key=file_rank)  # a stable sort: the order within a file is kept
