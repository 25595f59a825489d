"""The real Snakemake DAG: lint, dry runs of every shipped config, schema errors, an end-to-end run of
a tiny study (real teacher fit, MD, labelling, NequIP training) and a single-target rerun."""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, TINY_OUTPUTS, scratch_copy, snakemake, snakemake_env


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


def test_lint():
    proc = snakemake("--lint", check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.mark.parametrize("configfile, n_metrics", [
    ("config/config.yaml", 12),   # (1 N_synth + direct) x 2 N_real x 3 seeds
    ("config/quick.yaml", 2),
    ("config/teachers.yaml", 24),  # (5 teachers x 1 N_synth + direct) x 2 N_real x 2 seeds
    ("config/paper.yaml", 8 * 5 * 7),   # (6 N_synth + direct) x 8 N_real x 5 seeds
    ("config/molecule.yaml", 4 * 2 * 3),  # (3 strategies + direct) x 3 N_real x 2 seeds
    ("config/minimal.yaml", 2 * 2 * 3),   # a new dataset's least config: (1 N_synth + direct) x 2 N_real x 3 seeds
    ("config/config.yaml config/strict.yaml", 2 * 1 * 3),  # overlays: (1 N_synth + direct) x 1 N_real x 3 seeds
    ("config/config.yaml config/sweep.yaml", 2 * 5 * 3),   # (1 N_synth + direct) x 5 N_real x 3 seeds
    ("config/config.yaml config/short-range.yaml", 2 * 2 * 3),  # the default study, short-range structures joined
    ("config/config.yaml config/universal.yaml", 2 * 2 * 3),  # (1 N_synth + direct) x 2 N_real x 3 seeds
])
def test_dry_run(configfile, n_metrics, tmp_path):
    if configfile.endswith("paper.yaml"):
        # the paper's data and potential are the user's files; empty stand-ins are enough for a dry run
        text = (ROOT / configfile).read_text().replace("data/external/", f"{tmp_path}/")
        for name in ("C-GAP-17.extxyz", "gap17/gap17.xml"):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).touch()
        configfile = tmp_path / "paper.yaml"
        configfile.write_text(text)
    proc = snakemake("-n", "--forceall", "--nolock", "--configfile", *str(configfile).split(), "--quiet", "rules")
    counts = job_counts(proc.stdout + proc.stderr)
    out = proc.stdout + proc.stderr
    counts = counts.get("evaluate", 0)
    assert counts == n_metrics, out[-3000:]


OVERLAYS = {"config/strict.yaml", "config/sweep.yaml", "config/short-range.yaml",
            "config/universal.yaml"}  # on top of config/config.yaml


@pytest.mark.parametrize("configfile", sorted(p.relative_to(ROOT).as_posix() for p in
                                             [*(ROOT / "config").glob("*.yaml"), *(ROOT / "tests/config").glob("*.yaml")]))
def test_schema_defaults_are_those_of_snakemakes_validate(configfile):
    """The Snakefile fills defaults from the schema it has already parsed (fill_defaults); the result must
    be what snakemake.utils.validate would have made of the same config."""
    import copy
    import sys

    import yaml
    from snakemake.utils import update_config, validate

    sys.path.insert(0, str(ROOT / "scripts"))
    from synpre.configcheck import fill_defaults, load_schema

    raw = yaml.safe_load((ROOT / configfile).read_text())
    if configfile in OVERLAYS:  # merged as snakemake merges several --configfile files
        overlay, raw = raw, yaml.safe_load((ROOT / "config/config.yaml").read_text())
        update_config(raw, overlay)
    ours, theirs = copy.deepcopy(raw), copy.deepcopy(raw)
    fill_defaults(ours, load_schema(str(ROOT / "workflow/schemas/config.schema.yaml")))
    validate(theirs, str(ROOT / "workflow/schemas/config.schema.yaml"))
    assert ours == theirs and ours != raw


def test_universal_overlay_adds_zero_shot_md_speed_and_runs_its_teacher_in_the_universal_env():
    """config/universal.yaml: one zero_shot job for every N_real, a fine-tuned 7net-0 per N_real and seed, an md_speed
    job per model, and every job that runs SevenNet (teacher, labels, its report, MD and dimer, zero-shot,
    fine-tuning) in envs/universal.yaml under --use-conda."""
    env = dict(os.environ, PATH=f"{ROOT / 'tests' / 'conda_stub'}{os.pathsep}{os.environ['PATH']}")
    proc = snakemake("-n", "-F", "--nolock", "--use-conda", "--configfile", "config/config.yaml",
                     "config/universal.yaml", env=env)
    log = proc.stdout + proc.stderr
    counts = job_counts(log)
    assert counts["zero_shot"] == 1 and counts["md_speed"] == counts["evaluate"] == 12, counts
    assert counts["universal_finetune"] == 2 * 3, counts  # 7net-0 fine-tuned per N_real x seed
    assert "Conda environment envs/universal.yaml will be created" in log
    cmds = shell_commands(log)
    (zero_shot,) = cmds["zero_shot"]
    assert "--train results/universal/reference/train-10.xyz results/universal/reference/train-25.xyz" in zero_shot
    assert "zero-shot/pretrain-0/finetune-25/7net-0/seed-0/metrics.json" in zero_shot
    assert all("--md-speed" in c and "zero-shot/pretrain-0/finetune-10/7net-0" in c for c in cmds["aggregate"])
    assert not any("gap-fit" in c for rule in ("teacher", "label") for c in cmds[rule])  # the GAP is not used
    assert all("universal-ft/pretrain-0/finetune-" in c for c in cmds["universal_finetune"])
    assert "universal-ft/pretrain-0/finetune-25/7net-0/seed-2/metrics.json" in cmds["aggregate"][0]


def shell_commands(log: str) -> dict:
    """{rule: [shell command of each job]} from the output of a dry run with -p."""
    cmds = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", log):
        rule, cmd = re.match(r"(?:local)?rule (\w+):", block), re.search(r"Shell command: (.*)", block)
        if rule and cmd:
            cmds.setdefault(rule.group(1), []).append(cmd.group(1))
    return cmds


def test_lmdb_storage_converts_the_pretraining_sets_only():
    """synthetic_storage: lmdb adds one conversion job per pre-training set (each N_synth subset and the
    synthetic validation set of each teacher), and only pre-training reads LMDB; the default adds none."""
    proc = snakemake("-n", "-p", "--forceall", "--nolock", "--configfile", "config/config.yaml",
                     "--config", "synthetic_storage=lmdb")
    out = proc.stdout + proc.stderr
    cmds = shell_commands(out)
    converted = sorted(re.search(r"--out (\S+)", c).group(1) for c in cmds["synthetic_lmdb"])
    assert converted == [f"results/default/gap-fit/{name}.lmdb"
                         for name in ("synthetic-800", "synthetic_val")], converted
    assert len(cmds["pretrain"]) == 1
    for cmd in cmds["pretrain"]:
        assert re.search(r"--train \S+/synthetic-\d+\.lmdb --val \S+/synthetic_val\.lmdb", cmd), cmd
    for rule in ("finetune", "direct"):
        assert cmds[rule] and not any("lmdb" in c for c in cmds[rule]), rule
    assert job_counts(out)["synthetic_lmdb"] == 2
    default = snakemake("-n", "-p", "--forceall", "--nolock", "--configfile", "config/config.yaml")
    cmds = shell_commands(default.stdout + default.stderr)
    assert "synthetic_lmdb" not in cmds and not any("lmdb" in c for c in cmds["pretrain"])


def test_short_range_structures_join_every_labelling_shard():
    """config short_range: one job per labelling shard makes its part, and each shard's teacher labels it
    with the MD snapshots; without the section no such job runs."""
    proc = snakemake("-n", "-p", "--forceall", "--nolock", "--configfile", "config/config.yaml",
                     "config/short-range.yaml")
    cmds = shell_commands(proc.stdout + proc.stderr)
    assert len(cmds["short_range"]) == 4 and len(cmds["label"]) == 4
    for cmd in cmds["label"]:
        k = re.search(r"shard-(\d+)\.xyz", cmd).group(1)
        assert f"results/short-range/synthetic/short_range/part-{k}.xyz" in cmd, cmd
    default = snakemake("-n", "--forceall", "--nolock", "--configfile", "config/config.yaml", "--quiet", "rules")
    assert "short_range" not in job_counts(default.stdout + default.stderr)


def test_small_training_sets_stay_eager_under_compile_min_structures():
    """training.compile with compile_min_structures: 20 compiles the runs on 25 structures (and the
    pre-training on 800) but not those on 10, and each job's settings say which it does."""
    proc = snakemake("-n", "-p", "--forceall", "--nolock", "--configfile", "config/config.yaml")
    cmds = shell_commands(proc.stdout + proc.stderr)
    seen = {}
    for rule in ("pretrain", "finetune", "direct"):
        for cmd in cmds[rule]:
            settings = json.loads(re.search(r"--settings '(\{.*?\})' --train", cmd).group(1))
            n = int(re.search(r"(?:synthetic|train)-(\d+)\.xyz", cmd).group(1))
            assert "compile_min_structures" not in settings["training"], cmd
            seen[(rule, n)] = settings["training"]["compile"]
    assert seen == {("pretrain", 800): True, ("finetune", 10): False, ("finetune", 25): True,
                    ("direct", 10): False, ("direct", 25): True}, seen


@pytest.mark.parametrize("strategy, message", [
    ("{nope: true}", "config key finetune.strategies.bad.nope is not known"),
    ("{xi: 0}", "0 is less than or equal to the minimum of 0"),
    ("{freeze_blocks: 3}", "finetune.strategies.bad.freeze_blocks: 3 blocks to freeze, but the model has "
                           "model.num_layers=1"),
    ("{checkpoint: 9}", "finetune.strategies.bad.checkpoint: epoch 9 is beyond pre-training's max_epochs=2"),
])
def test_bad_strategy_fails_before_any_job(strategy, message, tmp_path):
    cfg = (ROOT / "tests/config/tiny.yaml").read_text().replace(
        "    full: {}\n", f"    full: {{}}\n    bad: {strategy}\n")
    (tmp_path / "bad.yaml").write_text(cfg)
    proc = snakemake("-n", "--configfile", str(tmp_path / "bad.yaml"), check=False)
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-2000:]


def test_architecture_without_its_package_fails_before_any_job(tmp_path):
    cfg = (ROOT / "tests/config/tiny.yaml").read_text().replace("model: {", "model: {architecture: allegro, ")
    (tmp_path / "bad.yaml").write_text(cfg)
    shadow = tmp_path / "shadow"  # an environment where nequip-allegro cannot be found
    shadow.mkdir()
    (shadow / "sitecustomize.py").write_text(
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'allegro':\n"
        "            raise ModuleNotFoundError('No module named allegro')\n"
        "sys.meta_path.insert(0, Hide())\n")
    env = dict(os.environ, PYTHONPATH=str(shadow))
    proc = snakemake("-n", "--configfile", str(tmp_path / "bad.yaml"), check=False, env=env)
    assert proc.returncode != 0
    assert "config model.architecture: allegro needs the nequip-allegro package" in proc.stdout + proc.stderr


def test_compile_without_a_cpp_compiler_fails_before_any_job(tmp_path):
    """The default study compiles its training; a machine without a C++ compiler is told at parse time."""
    bare = tmp_path / "bin"  # every tool on PATH except the C++ compilers
    bare.mkdir()
    for d in os.environ["PATH"].split(os.pathsep):
        for tool in Path(d).glob("*") if Path(d).is_dir() else []:
            if not re.match(r"(.*-)?(g\+\+|c\+\+|clang\+\+)(-[\d.]+)?$", tool.name) and not (bare / tool.name).exists():
                (bare / tool.name).symlink_to(tool)
    env = dict(os.environ, PATH=str(bare))
    env.pop("CXX", None)
    proc = snakemake("-n", "--configfile", "config/config.yaml", check=False, env=env)
    assert proc.returncode != 0
    assert "config training.compile: torch.compile needs a C++ compiler" in proc.stdout + proc.stderr


@pytest.mark.parametrize("configfile, targets, expected", [
    # the default study leaves stability out of `all` (stability.in_all: false) ...
    ("config/config.yaml", [], {"stability": 0, "teacher_stability": 0, "stability_report": 0, "evaluate": 12}),
    # ... and its target runs it alone: 12 models x 2 temperatures, the teacher's MD per temperature, no accuracy jobs
    # (stability.compiled: true compiles each model for the MD)
    ("config/config.yaml", ["stability_report"], {"stability": 24, "teacher_stability": 2, "stability_report": 1,
                                                  "compile": 12, "evaluate": 0, "aggregate": 0}),
    ("config/quick.yaml", [], {"stability": 2 * 2, "teacher_stability": 2, "stability_report": 1}),
    ("tests/config/tiny.yaml", [], {"stability": 4 * 2, "teacher_stability": 2, "stability_report": 1}),
])
def test_stability_jobs_per_model_and_temperature(configfile, targets, expected):
    """One stability job per final model and hold temperature (each runs every replica), one calibrating
    teacher MD per temperature; in `all` unless stability.in_all is false, always in target stability_report."""
    proc = snakemake(*targets, "-n", "--forceall", "--nolock", "--configfile", configfile, "--quiet", "rules")
    counts = job_counts(proc.stdout + proc.stderr)
    assert {rule: counts.get(rule, 0) for rule in expected} == expected, counts


def test_stability_report_alone_reruns_no_accuracy_job():
    """A study whose models exist: the stability target asks for the models' packages, the stability MD
    and its report, and nothing of the accuracy part (evaluate, aggregate) runs again."""
    proc = snakemake("stability_report", "-n", "-p", "--forceall", "--nolock", "--configfile", "config/config.yaml")
    cmds = shell_commands(proc.stdout + proc.stderr)
    assert not {"evaluate", "aggregate", "constant_baseline"} & set(cmds)
    report = cmds["stability_report"][0]
    assert report.count("/stability-1000K.json") == 12 + 1 and report.count("/stability-2000K.json") == 12 + 1
    for cmd in cmds["stability"]:
        assert re.search(r"--model \S+/model\.nequip\.pt2 ", cmd) and "--device cpu" in cmd, cmd
        t = re.search(r"--temperature (\d+)", cmd).group(1)
        assert f"--calibration results/default/teachers/gap-fit/stability-{t}K.json" in cmd, cmd
        assert f"--rdf-reference results/default/teachers/gap-fit/stability-{t}K.xyz" in cmd, cmd
    proc = snakemake("aggregate", "-n", "-p", "--forceall", "--nolock", "--configfile", "config/config.yaml")
    aggregate = shell_commands(proc.stdout + proc.stderr)["aggregate"][0]
    assert "--stability-target results/default/stability.md" in aggregate and "stability-1000K" not in aggregate


@pytest.mark.parametrize("setting, message", [
    ("{temperatures: [0]}", "config stability.temperatures / t_start: temperatures must be > 0 K"),
    ("{timestep_fs: 20}", "config stability.timestep_fs: 20 fs is outside (0, 5] fs"),
])
def test_bad_md_protocol_fails_before_any_job(setting, message, tmp_path):
    cfg = (ROOT / "tests/config/tiny.yaml").read_text().split("\nstability:")[0]
    (tmp_path / "bad.yaml").write_text(cfg + f"\nstability: {setting}\n" + (ROOT / "tests/config/tiny.yaml").read_text().split("\nstability:")[1].split("\n", 1)[1])
    proc = snakemake("-n", "--configfile", str(tmp_path / "bad.yaml"), check=False)
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-2000:]


def test_rdf_reference_of_another_system_fails_before_any_job(tmp_path):
    from ase.build import bulk
    from ase.io import write

    write(tmp_path / "si.xyz", bulk("Si", cubic=True))
    cfg = (ROOT / "tests/config/tiny.yaml").read_text().replace(
        "stability: {", f"stability: {{rdf_reference: {{file: {tmp_path / 'si.xyz'}}}, ")
    (tmp_path / "bad.yaml").write_text(cfg)
    proc = snakemake("-n", "--configfile", str(tmp_path / "bad.yaml"), check=False)
    assert proc.returncode != 0
    assert "stability.rdf_reference.file" in proc.stdout + proc.stderr and "['Si']" in proc.stdout + proc.stderr


def test_alchemy_with_a_fitted_teacher_is_refused(tmp_path):
    cfg = (ROOT / "tests/config/tiny.yaml").read_text().split("\nperturbation:")[0]
    cfg = cfg.replace("elements: [C]", "elements: [C, Si]")
    cfg = cfg.replace("{C: -47.37872264431578}", "{C: -47.37872264431578, Si: 0.0}")
    cfg += "\nalchemy: {species_map: {C: Si}, cell_scale: 1.5}\n"
    (tmp_path / "alchemy.yaml").write_text(cfg)
    proc = snakemake("-n", "--configfile", str(tmp_path / "alchemy.yaml"), check=False)
    assert proc.returncode != 0 and "config alchemy: a fitted teacher (gap_fit, eam_fit, ace_fit)" in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    """Run the whole tiny DAG once in a scratch copy of the repository."""
    work = scratch_copy(tmp_path_factory.mktemp("study"))
    snakemake("--cores", "2", "--configfile", "tests/config/tiny.yaml", cwd=work)
    return work


@pytest.mark.e2e
def test_end_to_end_outputs(tiny_study):
    out = tiny_study / "results" / "tiny"
    for rel in TINY_OUTPUTS:
        assert (out / rel).stat().st_size > 0, rel
    df = pd.read_csv(out / "runs.csv")
    assert sorted(zip(df["teacher"], df["strategy"])) == [("constant", "mean"), ("direct", "scratch"),
                                                          ("gap-tiny", "energy-only"), ("gap-tiny", "full"),
                                                          ("gap-tiny", "replay")]
    models = df[df["teacher"] != "constant"]  # each model is marked against the constant predictor
    assert models["beats_constant"].notna().all()
    assert (models["constant_energy_rmse_meV_per_atom"] == df.loc[df["teacher"] == "constant",
                                                                   "energy_rmse_meV_per_atom"].iloc[0]).all()
    headline = pd.read_csv(out / "headline.csv")  # one row per pre-trained curve point, metric and subset
    assert len(headline[headline["subset"] == "all"]) == 3 * 2 and set(headline["bound"]) <= {"=", ">=", "<="}
    assert "## Headline numbers" in (out / "summary.md").read_text()
    stab = pd.read_csv(out / "stability.csv")  # 4 models x 2 temperatures x 2 replicas, and the teacher's 2 x 2
    models = stab[~stab["teacher"].str.startswith("teacher ")]
    assert len(models) == 16 and len(stab) == 20 and (stab["simulated_ps"] > 0).all()
    assert set(stab["temperature_K"]) == {1500.0, 2000.0} and set(stab["replica"]) == {0, 1}
    assert stab[stab["teacher"] == "teacher gap-tiny"]["survived"].all()  # calibrated on it: its own MD never alarms
    survived = models[models["survived"]]  # a run that reached the hold has an RDF error against the teacher's MD
    assert survived["rdf_error"].notna().all() and (survived["rdf_error"] >= 0).all()
    series = pd.read_csv(out / "direct/pretrain-0/finetune-5/scratch/seed-0/stability-2000K.csv")
    assert series["step"].iloc[0] == 0 and series["temperature_K"].iloc[-1] > 300
    survival = pd.read_csv(out / "survival.csv")  # per temperature: direct, 3 pre-trained arms, the teacher
    assert len(survival) == 2 * 5 and survival.loc[survival["arm"] == "direct", "logrank_p"].isna().all()
    assert "## MD stability" in (out / "stability.md").read_text()
    assert (out / "stability.md").read_text() in (out / "summary.md").read_text()  # in_all: summary.md has it
    curves = pd.read_csv(out / "curves.csv")
    assert len(curves) == 4 and (curves["n_seeds"] == 1).all()
    # the synthetic pool mixes MD snapshots with perturbed real structures (config: perturbation)
    from ase.io import read

    pool = read(out / "gap-tiny/synthetic_pool.xyz", ":") + read(out / "gap-tiny/synthetic_val.xyz", ":")
    assert len(pool) == 16 + 8 and sum(a.info.get("config_type") == "perturbed" for a in pool) == 8
    assert (out / "teachers/gap-tiny/report.json").exists()
    assert re.search(r"\|\s*direct\s*\|", (out / "summary.md").read_text())
    assert df["energy_rmse_meV_per_atom"].notna().all() and (df["forces_rmse_eV_per_A"] > 0).all()
    assert re.search(r"\|\s*constant\s*\|\s*direct\s*\|", (out / "summary.md").read_text())
    m = json.loads((out / "gap-tiny/pretrain-8/finetune-5/full/seed-0/metrics.json").read_text())
    assert m["training"]["pretrained"].endswith("gap-tiny/pretrain-8/model.ckpt")
    eo = json.loads((out / "gap-tiny/pretrain-8/finetune-5/energy-only/seed-0/metrics.json").read_text())
    assert eo["training"]["pretrained"].endswith("gap-tiny/pretrain-8/after-epoch-1.ckpt")
    assert eo["training"]["monitor"].endswith("per_atom_energy_rmse") and eo["forces_rmse_eV_per_A"] > 0
    assert m["n_structures"] == len(open(out / "reference/test.xyz").read().split("Lattice=")) - 1
    # replay: 5 real structures x 2 (weight 0.5) and the first 4 pre-training structures, whose energies moved
    # to the real reference by the pre-trained model's offset; its forgetting beside the pre-trained model's
    rp = json.loads((out / "gap-tiny/pretrain-8/finetune-5/replay/seed-0/training.json").read_text())["replay"]
    assert (rp["n_real"], rp["copies_real"], rp["structures"], rp["copies_synthetic"], rp["weight"]) == (5, 2, 4, 1, 0.5)
    mixed = read(rp["train"], ":")
    synth = read(out / "gap-tiny/synthetic-8.xyz", ":4")
    assert len(mixed) == rp["training_structures"] == 14
    d = rp["energy_offsets_eV_per_atom"]["C"]
    moved = [a for a in mixed if a.info["replay_source"] == "synthetic"]
    assert [a.get_potential_energy() for a in moved] == pytest.approx([a.get_potential_energy() + d * len(a) for a in synth])
    assert "replay" in df.loc[df["synthetic_forces_rmse_eV_per_A"].notna(), "strategy"].tolist()
    fg = json.loads((out / "gap-tiny/pretrain-8/forgetting.json").read_text())
    assert (fg["strategy"], fg["n_real"], fg["test_set"]) == ("pretrained", 0, "synthetic held-out")
    assert fg["forces_rmse_eV_per_A"] > 0 and "energy_offset_eV_per_atom" in fg
    assert "## Forgetting: the synthetic held-out set" in (out / "summary.md").read_text()
    # every log and benchmark file was written
    assert list((out / "logs").rglob("*.log")) and list((out / "benchmarks").rglob("*.tsv"))


@pytest.mark.e2e
def test_switching_use_conda_on_reruns_nothing(tiny_study):
    """profiles/default drops the software-env rerun trigger: results made without --use-conda stand.
    A stand-in conda (tests/conda_stub) answers snakemake's queries; no env is created."""
    env = dict(os.environ, PATH=f"{ROOT / 'tests' / 'conda_stub'}{os.pathsep}{os.environ['PATH']}")
    proc = snakemake("-n", "--use-conda", "--configfile", "tests/config/tiny.yaml", cwd=tiny_study, env=env)
    assert "Nothing to be done" in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
    full = snakemake("-n", "--use-conda", "-F", "--configfile", "tests/config/tiny.yaml", cwd=tiny_study, env=env)
    for name in ("data", "teacher", "train", "analysis"):  # every env file is found and would be built
        assert f"Conda environment envs/{name}.yaml will be created" in full.stdout + full.stderr, name


@pytest.fixture(scope="module")
def study_report(tiny_study):
    snakemake("--configfile", "tests/config/tiny.yaml", "--report", "report.html", cwd=tiny_study)
    return tiny_study / "report.html"


@pytest.mark.e2e
def test_report_holds_every_figure_and_table(study_report):
    html = study_report.read_text()
    for name in ("learning_curves.png", "data_efficiency.png", "survival.png", "dimer_curves.png", "parity.png", "rdf.png",
                 "runs.csv", "headline.csv", "stability.csv", "teachers.csv"):
        assert name in html, name
    for caption in ("Data efficiency of pre-training", "MD stability: the fraction of runs", "E(r) of an isolated pair"):
        assert caption in html, caption


@pytest.mark.e2e
def test_report_renders_in_a_browser(study_report, tmp_path):
    """Headless Chromium renders the report: the app's menu shows every result category, and the
    screenshot is not blank."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium when it can)")
    import subprocess

    base = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
            "--window-size=1400,1000"]
    dom = subprocess.run(base + ["--dump-dom", study_report.as_uri()], capture_output=True, text=True, timeout=180)
    for category in ("Learning curves", "Models", "Stability", "Short range", "Tables", "Teachers"):
        assert category in dom.stdout, category
    shot = tmp_path / "report.png"
    subprocess.run(base + [f"--screenshot={shot}", study_report.as_uri()], capture_output=True, timeout=180)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1000, 1400) and pixels.std() > 0.05
    shutil.copyfile(shot, study_report.with_name("report-screenshot.png"))


@pytest.mark.e2e
def test_reference_build_remakes_a_reference_set(tiny_study):
    snakemake("reference_build", "--cores", "2", "--configfile", "tests/config/tiny.yaml", cwd=tiny_study)
    from ase.io import read

    frames = read(tiny_study / "results/tiny/reference-build.extxyz.gz", ":")
    assert len(frames) == 4  # 2 trajectories x 1 anneal snapshot + 1 diamond + 1 graphite
    assert {a.info["split"] for a in frames} == {"train", "test"}
    assert {a.info["config_type"] for a in frames} == {"amorphous", "diamond", "graphite"}
    # total GFN1-xTB energies, like a DFT file: about -57 eV/atom for carbon
    assert all(-59 < a.get_potential_energy() / len(a) < -55 for a in frames)


@pytest.mark.e2e
def test_rerun_of_one_target_rebuilds_only_it(tiny_study):
    target = "results/tiny/direct/pretrain-0/finetune-5/scratch/seed-0/metrics.json"
    proc = snakemake("--cores", "1", "--configfile", "tests/config/tiny.yaml", "-f", target, cwd=tiny_study)
    log = proc.stdout + proc.stderr
    assert "rule evaluate:" in log
    for other in ("rule direct:", "rule finetune:", "rule pretrain:", "rule label:", "rule sample:"):
        assert other not in log, other
    # only the aggregation downstream of the rerun target is now out of date
    again = snakemake("--cores", "1", "--configfile", "tests/config/tiny.yaml", "-n", "--quiet", "rules",
                      cwd=tiny_study)
    pending = set(job_counts(again.stdout + again.stderr))
    assert pending <= {"aggregate", "all"}, pending


@pytest.mark.e2e
def test_more_n_real_and_seeds_extend_a_study_in_place(tiny_study):
    """An overlay that adds N_real sizes and seeds (as config/sweep.yaml does) trains only the new runs:
    the reference preparation, the teacher and pre-training are reused."""
    (tiny_study / "more.yaml").write_text("n_real: [5, 6]\nseeds: [0, 1]\n")
    proc = snakemake("-n", "--configfile", "tests/config/tiny.yaml", "more.yaml", "--quiet", "rules", cwd=tiny_study)
    pending = job_counts(proc.stdout + proc.stderr)
    assert pending.get("direct") == 3 and pending.get("subset_real") == 1, pending
    assert not {"prepare_reference", "teacher", "pretrain", "label", "sample"} & set(pending), pending


@pytest.mark.e2e
def test_a_killed_labelling_shard_reruns_alone(tiny_study, tmp_path):
    """SIGKILL one labelling shard while both run: the other shard's output stands, the killed one leaves
    no output behind, and the rerun runs that shard again and not its sibling."""
    import signal
    import subprocess
    import sys
    import time

    work = tmp_path / "copy"
    shutil.copytree(tiny_study, work, symlinks=True)
    shards = [f"results/tiny/gap-tiny/labels/shard-{k}.xyz" for k in (0, 1)]
    env = snakemake_env()
    # targets first: --configfile and --forcerun would swallow them as more values
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", *shards, "--cores", "2", "--configfile",
                             "tests/config/tiny.yaml", "--forcerun", "label"], cwd=work, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    victim, deadline = None, time.time() + 120
    while victim is None and time.time() < deadline and proc.poll() is None:
        found = subprocess.run(["pgrep", "-f", "^[^ ]*python[^ ]* [^ ]*label.py .*shard-1.xyz"], capture_output=True, text=True).stdout.split()
        victim = int(found[0]) if found else None
        time.sleep(0.1)
    assert victim, "shard 1 never started"
    os.kill(victim, signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode != 0 and "Error in rule label" in out, out[-3000:]
    assert (work / shards[0]).exists() and not (work / shards[1]).exists()
    again = snakemake(*shards, "--cores", "2", "--configfile", "tests/config/tiny.yaml", cwd=work)
    log = again.stdout + again.stderr
    assert job_counts(log).get("label") == 1 and "shard-1.xyz" in log and "output: results/tiny/gap-tiny/labels/shard-0.xyz" not in log


@pytest.mark.e2e
def test_multi_element_study_with_reference_computed_in_the_dag(tmp_path):
    """SiC: the reference set is made by reference_build inside the same run (Tersoff labels), an EDIP
    teacher labels MD and NVT snapshots, and a two-species NequIP model goes through every stage."""
    from ase.io import read

    work = scratch_copy(tmp_path)
    snakemake("--cores", "2", "--configfile", "tests/config/sic.yaml", cwd=work)
    out = work / "results" / "sic"
    ref = read(out / "reference" / "train_pool.xyz", ":")
    assert {"C", "Si"} <= set(ref[0].get_chemical_symbols())
    teacher = json.loads((out / "teachers/edip/teacher.json").read_text())
    assert set(teacher["isolated_atom_energies"]) == {"C", "Si"}
    df = pd.read_csv(out / "runs.csv")
    assert sorted(df["teacher"]) == ["constant", "direct", "edip"] and (df["forces_rmse_eV_per_A"] > 0).all()
    synthetic = read(out / "edip/synthetic_pool.xyz", ":") + read(out / "edip/synthetic_val.xyz", ":")
    assert sum(a.info.get("config_type") == "nvt" for a in synthetic) == 4  # 2 start cells x 2 snapshots
    pred = read(out / "edip/pretrain-8/finetune-6/full/seed-0/predictions.xyz", ":")
    assert all(set(a.get_chemical_symbols()) == {"C", "Si"} for a in pred)


@pytest.mark.e2e
@pytest.mark.parametrize("variant", ["carbon-sevennet", "sic-chgnet"])
def test_universal_potential_labels_the_synthetic_data_and_is_the_zero_shot_baseline(variant, tmp_path):
    """tests/config/universal.yaml (the shipped weights on tiny inputs): the universal potential labels the
    synthetic data, NequIP is pre-trained on it and fine-tuned, and the same potential zero-shot is a row of
    runs.csv and a column of summary.md, every model with its MD speed. As silicon carbide with CHGNet: a
    second element and the other kind, with a per-element energy offset."""
    import yaml
    from ase.io import read

    work = scratch_copy(tmp_path)
    cfg = yaml.safe_load((ROOT / "tests/config/universal.yaml").read_text())
    name = "7net-0"
    if variant == "sic-chgnet":
        name, out_file = "chgnet", "results/universal-sic/reference.extxyz.gz"
        cfg.update(study="universal-sic", elements=["C", "Si"], teachers={name: {"kind": "chgnet", "model": "0.3.0"}},
                   pretrain_teachers=[name], baselines={"zero_shot": [name]})  # no fine-tuned CHGNet baseline
        cfg["reference"].update(files=[out_file], isolated_atom_energies={"C": 0.0, "Si": 0.0})  # Tersoff's free atoms
        cfg["reference_build"].update(labeller={"kind": "lammps", "potential": "tersoff"}, out=out_file)
        for section in (cfg["sampling"], cfg["reference_build"]["sampling"]):
            section["composition"] = {"Si": 16, "C": 16}
    (work / "universal.yaml").write_text(yaml.safe_dump(cfg))
    snakemake("--cores", "2", "--configfile", "universal.yaml", cwd=work)
    out = work / "results" / cfg["study"]
    teacher = json.loads((out / f"teachers/{name}/teacher.json").read_text())
    assert teacher["kind"] == cfg["teachers"][name]["kind"] and set(teacher["isolated_atom_energies"]) == set(cfg["elements"])
    shard = read(out / f"{name}/labels/shard-0.xyz", ":")
    assert {a.info["teacher"] for a in shard} == {name} and all(np.isfinite(a.get_forces()).all() for a in shard)
    runs = pd.read_csv(out / "runs.csv")
    tuned = ["universal-ft"] if variant == "carbon-sevennet" else []
    assert sorted(runs["teacher"]) == sorted(["constant", "direct", name, "zero-shot"] + tuned)
    zero = runs[runs["teacher"] == "zero-shot"].iloc[0]
    assert zero["strategy"] == name and zero["n_real"] == 3 and zero["forces_rmse_eV_per_A"] > 0
    assert (runs.loc[runs["teacher"] != "constant", "md_steps_per_second"] > 0).all()
    metrics = json.loads((out / f"zero-shot/pretrain-0/finetune-3/{name}/seed-0/metrics.json").read_text())
    assert set(metrics["energy_offsets_eV_per_atom"]) == set(cfg["elements"])
    summary = (out / "summary.md").read_text()
    assert f"{name} zero-shot" in summary and "## MD speed (steps/s)" in summary
    if tuned:  # SevenNet-0 fine-tuned on the same 3 cells: its own training, offsets, checkpoint and test errors
        ft = json.loads((out / f"universal-ft/pretrain-0/finetune-3/{name}/seed-0/metrics.json").read_text())
        assert (ft["teacher"], ft["strategy"], ft["n_real"], ft["training"]["epochs"]) == ("universal-ft", name, 3, 2)
        assert ft["forces_rmse_eV_per_A"] > 0 and ft["md_steps_per_second"] > 0
        # the same offset as zero-shot's, which is taken against the teacher's labels (model - its isolated atom)
        e0 = teacher["isolated_atom_energies"]["C"]
        assert ft["energy_offsets_eV_per_atom"]["C"] == pytest.approx(metrics["energy_offsets_eV_per_atom"]["C"] - e0,
                                                                      abs=1e-4)
        assert (out / f"universal-ft/pretrain-0/finetune-3/{name}/seed-0/checkpoint_best.pth").stat().st_size > 1e6
        assert f"{name} fine-tuned" in summary


@pytest.mark.e2e
def test_alchemical_pretraining_end_to_end(tmp_path):
    """The paper's Si experiment in miniature: carbon structures labelled by a carbon potential are
    transmuted to silicon (scaled cell, forces scaled by 1/s) and pre-train a Si model."""
    from ase.io import read

    work = scratch_copy(tmp_path)
    snakemake("--cores", "2", "--configfile", "tests/config/alchemy.yaml", cwd=work)
    out = work / "results" / "alchemy"
    pool = read(out / "lcbop/synthetic_pool.xyz", ":")
    assert all(set(a.get_chemical_symbols()) == {"Si"} for a in pool)
    shard = [a for a in read(out / "lcbop/labels/shard-0.xyz", ":")]
    assert set(shard[0].get_chemical_symbols()) == {"C"}  # labelled as carbon, transmuted afterwards
    density = [sum(a.get_masses()) / a.get_volume() for a in pool]  # amu/A^3: Si mass, carbon cell x 1.52^3
    assert 0.5 < min(density) and max(density) < 2.0
    df = pd.read_csv(out / "runs.csv")
    assert sorted(df["teacher"]) == ["constant", "direct", "lcbop"] and (df["forces_rmse_eV_per_A"] > 0).all()


@pytest.mark.e2e
def test_molecule_study_end_to_end(tmp_path):
    """Non-periodic data and Allegro through the whole DAG: a GFN2-xTB reference made in the DAG, GFN1-xTB
    synthetic data, full and energy-only fine-tuning, packaged models."""
    work = scratch_copy(tmp_path)
    snakemake("--cores", "2", "--configfile", "tests/config/molecule.yaml", cwd=work)
    from ase.io import read

    out = work / "results" / "molecule-tiny"
    ref = read(out / "reference.extxyz.gz", ":")
    assert not any(a.pbc.any() for a in ref) and {a.info["reference_method"] for a in ref} == {"GFN2-xTB"}
    assert {a.info["split"] for a in ref} == {"train", "test"}
    pool = read(out / "gfn1" / "synthetic_pool.xyz", ":")
    assert not any(a.pbc.any() for a in pool) and all("stress" not in a.calc.results for a in pool)
    df = pd.read_csv(out / "runs.csv")
    assert sorted(df["strategy"]) == ["energy-only", "full", "mean", "scratch"]  # mean: the constant predictor
    assert (df["forces_rmse_eV_per_A"] > 0).all()
    assert (out / "gfn1/pretrain-10/finetune-6/energy-only/seed-0/model.nequip.zip").stat().st_size > 0
    assert "allegro.model.AllegroModel" in (out / "gfn1/pretrain-10/run/config.yaml").read_text()



@pytest.mark.e2e
def test_keep_going_isolates_failed_runs_and_marks_them_missing(tmp_path):
    """A DAG of 70+ jobs where the runs of one strategy diverge (lr 1000): --keep-going finishes every
    independent job, and the aggregate that onerror writes marks the failed runs instead of dropping them."""
    import yaml

    work = scratch_copy(tmp_path)
    cfg = yaml.safe_load((ROOT / "tests/config/tiny.yaml").read_text())
    cfg.update(study="isolation", seeds=list(range(8)), stability={"enabled": False}, export={"package": False})
    cfg["training"]["max_epochs"] = 1
    cfg["finetune"]["strategies"].pop("replay")  # the 3 strategies of this test: no forgetting jobs either
    cfg["finetune"]["strategies"]["unstable"] = {"training": {"lr": 1000.0}}
    (work / "isolation.yaml").write_text(yaml.safe_dump(cfg))
    dry = snakemake("-n", "--configfile", "isolation.yaml", "--quiet", "rules", cwd=work)
    assert sum(job_counts(dry.stdout + dry.stderr).values()) >= 70
    proc = snakemake("--cores", "2", "--keep-going", "--configfile", "isolation.yaml", cwd=work, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "training diverged" in (work / "results/isolation/logs/finetune/gap-tiny/pretrain-8/finetune-5/unstable"
                                   / "seed-0.log").read_text()
    study = work / "results" / "isolation"
    for seed in range(8):  # every run that does not depend on a failed job finished
        for run in ("gap-tiny/pretrain-8/finetune-5/full", "gap-tiny/pretrain-8/finetune-5/energy-only",
                    "direct/pretrain-0/finetune-5/scratch"):
            assert (study / run / f"seed-{seed}" / "metrics.json").exists(), (run, seed, out[-3000:])
    runs = pd.read_csv(study / "runs.csv")
    assert list(runs["teacher"]).count("constant") == 1  # the constant predictor's row, always computed
    runs = runs[runs["teacher"] != "constant"]
    assert len(runs) == 32
    missing = runs[runs["status"] == "missing"]
    assert sorted(missing["seed"]) == list(range(8)) and set(missing["strategy"]) == {"unstable"}
    assert missing["energy_rmse_meV_per_atom"].isna().all() and (runs["status"] == "ok").sum() == 24
    summary = (study / "summary.md").read_text()
    assert "Incomplete: 8 of 32 runs are missing" in summary and "unstable/seed-7/metrics.json" in summary
    assert "Partial results" in out


def test_replay_strategy_reads_the_pretraining_set_and_adds_forgetting_jobs():
    """Only the replay strategy's fine-tuning reads the pre-training set (--replay); with a replay strategy,
    every pre-trained and fine-tuned model is scored on the synthetic held-out set (rule forgetting)."""
    proc = snakemake("-n", "-p", "--forceall", "--nolock", "--configfile", "tests/config/tiny.yaml")
    cmds = shell_commands(proc.stdout + proc.stderr)
    replay = [c for c in cmds["finetune"] if "--replay" in c]
    assert len(replay) == 1 and "/replay/seed-0" in replay[0]
    assert "--replay results/tiny/gap-tiny/synthetic-8.xyz" in replay[0]
    assert len(cmds["forgetting"]) == 1 + 3 and all("--remove-offset" in c for c in cmds["forgetting"])
    assert any("gap-tiny/synthetic_val.xyz" in c and "pretrain-8/model.ckpt" in c for c in cmds["forgetting"])
    assert "--forgetting" in cmds["aggregate"][0]
    # without a replay strategy: no forgetting job, and aggregate's command is as before
    proc = snakemake("-n", "-p", "--forceall", "--nolock", "--configfile", "config/quick.yaml")
    cmds = shell_commands(proc.stdout + proc.stderr)
    assert "forgetting" not in cmds and "--forgetting" not in cmds["aggregate"][0]


def test_a_bad_value_from_the_command_line_is_named_as_such():
    """`--config n_synth=[100,200]` reaches the workflow as strings; the error must point at the command line,
    not only at the config file, or the user edits a file that is right."""
    proc = snakemake("-n", "--configfile", "tests/config/tiny.yaml", "--config", "n_synth=[100,200]", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "tests/config/tiny.yaml + --config n_synth=" in out and \
        "is not of type 'integer'" in out, out[-2000:]
