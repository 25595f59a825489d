"""The tiny study (tests/config/tiny.yaml) run for real once, in a scratch copy of the repository (end-to-end
tier): every output, the report, reruns of one target, extending the study in place, a killed shard."""

import json
import os
import re
import shutil

import pandas as pd
import pytest

from conftest import ROOT, TINY_OUTPUTS, job_counts, scratch_copy, snakemake, snakemake_env


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
    # what ended pre-training, from its own training.json (the tiny config's epoch cap or early stopping)
    assert re.search(r"\|\s*gap-tiny\s*\|\s*8\s*\|.*\|\s*(epoch cap|early stopping \(converged\))\s*\|",
                     (out / "summary.md").read_text())
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
