"""The Snakemake DAG without running it (unit tier): lint, dry runs of every shipped config, the jobs and
commands they plan, and bad configs refused before any job. The studies run for real are in
test_tiny_study.py and test_studies.py."""

import json
import os
import re
from pathlib import Path

import pytest

from conftest import ROOT, job_counts, shell_commands, snakemake



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


def test_a_reference_md_per_temperature_replaces_the_teachers_only_at_that_temperature(tmp_path):
    """stability.rdf_reference.files: the shipped GFN1-xTB MD at 1000 K is the RDF reference of every 1000 K
    stability job; at 2000 K the teacher's MD still is, and the teacher still calibrates the alarms."""
    (tmp_path / "xtb.yaml").write_text("stability: {rdf_reference: {files: {1000: data/carbon-gfn1-nvt-1000K.extxyz.gz}}}\n")
    proc = snakemake("stability_report", "-n", "-p", "--forceall", "--nolock", "--configfile", "config/config.yaml",
                     str(tmp_path / "xtb.yaml"))
    cmds = shell_commands(proc.stdout + proc.stderr)["stability"]
    at = {t: [c for c in cmds if f"--temperature {t} " in c] for t in (1000, 2000)}
    assert at[1000] and at[2000] and len(at[1000]) + len(at[2000]) == len(cmds)
    assert all("--rdf-reference data/carbon-gfn1-nvt-1000K.extxyz.gz" in c for c in at[1000])
    assert all("--rdf-reference results/default/teachers/gap-fit/stability-2000K.xyz" in c for c in at[2000])
    assert all("--calibration results/default/teachers/gap-fit/stability-" in c for c in cmds)


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
