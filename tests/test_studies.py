"""Other studies run for real, each in its own scratch copy (end-to-end tier): multi-element with the
reference made in the DAG, universal potentials as teachers and baselines, alchemy, a molecule with
Allegro, and --keep-going around diverging runs."""

import json

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, job_counts, scratch_copy, snakemake


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
    """A DAG of 30+ jobs where the runs of one strategy diverge (lr 1000): --keep-going finishes every
    independent job, and the aggregate that onerror writes marks the failed runs instead of dropping them."""
    import yaml

    work = scratch_copy(tmp_path)
    cfg = yaml.safe_load((ROOT / "tests/config/tiny.yaml").read_text())
    cfg.update(study="isolation", seeds=list(range(3)), stability={"enabled": False}, export={"package": False})
    cfg["training"]["max_epochs"] = 1
    cfg["finetune"]["strategies"].pop("replay")  # the 3 strategies of this test: no forgetting jobs either
    cfg["finetune"]["strategies"]["unstable"] = {"training": {"lr": 1000.0}}
    (work / "isolation.yaml").write_text(yaml.safe_dump(cfg))
    dry = snakemake("-n", "--configfile", "isolation.yaml", "--quiet", "rules", cwd=work)
    assert sum(job_counts(dry.stdout + dry.stderr).values()) >= 30
    proc = snakemake("--cores", "2", "--keep-going", "--configfile", "isolation.yaml", cwd=work, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "training diverged" in (work / "results/isolation/logs/finetune/gap-tiny/pretrain-8/finetune-5/unstable"
                                   / "seed-0.log").read_text()
    study = work / "results" / "isolation"
    for seed in range(3):  # every run that does not depend on a failed job finished
        for run in ("gap-tiny/pretrain-8/finetune-5/full", "gap-tiny/pretrain-8/finetune-5/energy-only",
                    "direct/pretrain-0/finetune-5/scratch"):
            assert (study / run / f"seed-{seed}" / "metrics.json").exists(), (run, seed, out[-3000:])
    assert not (study / "runs.csv").exists()  # the partial tables never pass for the complete aggregate
    runs = pd.read_csv(study / "partial" / "runs.csv")
    assert list(runs["teacher"]).count("constant") == 1  # the constant predictor's row, always computed
    runs = runs[runs["teacher"] != "constant"]
    assert len(runs) == 12
    missing = runs[runs["status"] == "missing"]
    assert sorted(missing["seed"]) == list(range(3)) and set(missing["strategy"]) == {"unstable"}
    assert missing["energy_rmse_meV_per_atom"].isna().all() and (runs["status"] == "ok").sum() == 9
    summary = (study / "partial" / "summary.md").read_text()
    assert "Incomplete: 3 of 12 runs are missing" in summary and "unstable/seed-2/metrics.json" in summary
    assert "Partial results" in out
    # the next run retries the failed runs (nothing else asks for them: no packages here) and aggregates
    again = snakemake("-n", "--configfile", "isolation.yaml", cwd=work)
    counts = job_counts(again.stdout + again.stderr)
    assert counts.get("finetune") == 3 and counts.get("aggregate") == 1, counts
