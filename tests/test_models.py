"""Unit tests of the teacher, labelling, training, evaluation and aggregation scripts (real tblite,
real quippy gap_fit, real nequip-train on a tiny model)."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from ase.io import read, write

import aggregate
import evaluate
import label
import teacher
import train
from synpre.nequip_config import training_config
from synpre.recipe import energy_only

TINY = {
    "elements": ["C"], "seed": 0,
    "model": {"r_max": 3.5, "num_layers": 1, "l_max": 1, "parity": True, "num_features": 8, "radial_mlp_depth": 1,
              "radial_mlp_width": 16, "num_bessels": 4, "polynomial_cutoff_p": 6, "model_dtype": "float32",
              "energy_shift": "mean", "energy_scale": "forces_rms"},
    "training": {"lr": 0.005, "batch_size": 4, "ema_decay": 0.99, "max_epochs": 2, "early_stopping_patience": 5,
                 "lr_scheduler": True, "lr_patience": 2, "lr_factor": 0.5, "loss": {"energy": 4.0, "forces": 1.0},
                 "monitor": "weighted_sum", "early_stopping_min_delta": 0.0, "min_steps": 0, "compile": False},
    "finetune": {"refit_shift": True},
}


def test_tblite_teacher_and_labels(tmp_path):
    teacher.main(["--name", "gfn1", "--spec", '{"kind": "tblite", "method": "GFN1-xTB"}', "--elements", "C",
                  "--out", str(tmp_path / "t.json")])
    spec = json.loads((tmp_path / "t.json").read_text())
    assert spec["isolated_atom_energies"]["C"] == pytest.approx(-47.3787, abs=1e-3)
    from ase.build import bulk

    write(tmp_path / "in.xyz", [bulk("C", "diamond", a=3.567, cubic=True)])
    label.main(["--teacher", f"@{tmp_path / 't.json'}", "--inputs", str(tmp_path / "in.xyz"),
                "--out", str(tmp_path / "out.xyz")])
    a = read(tmp_path / "out.xyz")
    # an 8-atom cell at Gamma is far from converged, but must be bound relative to free atoms
    assert -12 < a.get_potential_energy() / len(a) < -8
    assert a.get_forces().shape == (8, 3) and a.calc.results["stress"].shape == (6,)
    assert a.info["teacher"] == "gfn1"


def test_unknown_teacher_kind(tmp_path, capsys):
    with pytest.raises(SystemExit):
        teacher.main(["--name", "bad", "--spec", '{"kind": "nonsense"}', "--elements", "C",
                      "--out", str(tmp_path / "t.json")])
    assert "teachers.bad.kind: unknown teacher kind 'nonsense'" in capsys.readouterr().err


def test_missing_gap_file(tmp_path, capsys):
    with pytest.raises(SystemExit):
        teacher.main(["--name", "g17", "--spec", '{"kind": "gap_xml", "path": "nowhere/gap17.xml"}',
                      "--elements", "C", "--out", str(tmp_path / "t.json")])
    assert "teachers.g17.path: GAP file nowhere/gap17.xml does not exist" in capsys.readouterr().err


@pytest.fixture(scope="module")
def fitted_gap(real, tmp_path_factory):
    """A small GAP fitted by the teacher script (kind gap_fit) on the real slice."""
    gap = {"fit_max": 8, "cutoff": 3.7, "sigma": {"energy": 0.005, "forces": 0.3},
           "two_body": {"delta": 5.0, "n_sparse": 10},
           "soap": {"l_max": 2, "n_max": 3, "atom_sigma": 0.5, "zeta": 2, "delta": 0.5, "n_sparse": 20,
                    "cutoff_transition_width": 0.5}}
    out = tmp_path_factory.mktemp("gap") / "teacher.json"
    teacher.main(["--name", "gapt", "--spec", json.dumps({"kind": "gap_fit", "gap": gap}), "--elements", "C",
                  "--fit-data", str(real / "train_pool.xyz"), "--fit-e0", '{"C": -47.37872264431578}',
                  "--out", str(out)])
    return out


def test_gap_fit_teacher_labels_consistently(real, fitted_gap, tmp_path):
    spec = json.loads(fitted_gap.read_text())
    assert spec["kind"] == "gap_xml" and spec["fitted"] and np.isfinite(spec["isolated_atom_energies"]["C"])
    label.main(["--teacher", f"@{fitted_gap}", "--inputs", str(real / "val.xyz"), "--out", str(tmp_path / "lab.xyz")])
    lab, ref = read(tmp_path / "lab.xyz", ":"), read(real / "val.xyz", ":")
    f_err = np.sqrt(np.mean(np.concatenate([(a.get_forces() - b.get_forces()).ravel() for a, b in zip(lab, ref)]) ** 2))
    f_rms = np.sqrt(np.mean(np.concatenate([b.get_forces().ravel() for b in ref]) ** 2))
    assert f_err < f_rms  # a fitted teacher, however small, predicts better than zero forces
    e0 = spec["isolated_atom_energies"]["C"]
    assert lab[0].get_potential_energy() == pytest.approx(lab[0].calc.results["energy"])
    assert lab[0].info["teacher"] == "gapt" and abs(e0) > 1


@pytest.mark.parametrize("which", ["gap", "lammps"])
def test_teacher_that_does_not_cover_an_element(which, fitted_gap, tmp_path, capsys):
    """A carbon GAP or LCBOP asked to label silicon too: a clear error naming the key and the element."""
    spec = (dict(json.loads(fitted_gap.read_text()), name="c-only") if which == "gap"
            else {"kind": "lammps", "potential": "lcbop"})
    with pytest.raises(SystemExit):
        teacher.main(["--name", "c-only", "--spec", json.dumps(spec), "--elements", "C", "Si",
                      "--out", str(tmp_path / "t.json")])
    err = capsys.readouterr().err
    assert "teachers.c-only" in err
    assert ("does not cover element Si" if which == "gap" else "does not cover every element of ['C', 'Si']") in err


def test_gap_xml_teacher_by_path(fitted_gap, tmp_path):
    """How a user plugs in C-GAP-17: kind gap_xml with the path of an XML file (here one gap_fit wrote)."""
    fitted = json.loads(fitted_gap.read_text())
    teacher.main(["--name", "mygap", "--spec", json.dumps({"kind": "gap_xml", "path": fitted["path"]}),
                  "--elements", "C", "--out", str(tmp_path / "t.json")])
    spec = json.loads((tmp_path / "t.json").read_text())
    assert spec["kind"] == "gap_xml" and spec["path"] == fitted["path"]
    assert spec["isolated_atom_energies"]["C"] == pytest.approx(fitted["isolated_atom_energies"]["C"])


def test_unloadable_gap_file(tmp_path, capsys):
    (tmp_path / "broken.xml").write_text("<GAP_params> not really")
    with pytest.raises(SystemExit):
        teacher.main(["--name", "g", "--spec", json.dumps({"kind": "gap_xml", "path": str(tmp_path / "broken.xml")}),
                      "--elements", "C", "--out", str(tmp_path / "t.json")])
    assert "teachers.g.path" in capsys.readouterr().err and not (tmp_path / "t.json").exists()


def test_generated_nequip_config_shapes():
    cfg = training_config(TINY, "a.xyz", "b.xyz", "/tmp/run")
    assert cfg["training_module"]["model"]["_target_"] == "nequip.model.NequIPGNNModel"
    assert cfg["training_module"]["loss"]["coeffs"] == {"total_energy": 4.0, "forces": 1.0}
    ft = training_config(TINY, "a.xyz", "b.xyz", "/tmp/run", pretrained="p.ckpt")
    assert ft["training_module"]["model"]["modifiers"][0]["modifier"] == "modify_PerTypeScaleShift"
    plain = training_config(dict(TINY, finetune={"refit_shift": False}), "a.xyz", "b.xyz", "/tmp/run", "p.ckpt")
    assert plain["training_module"]["model"]["_target_"] == "nequip.model.ModelFromCheckpoint"
    # step floor and budget reach Lightning; without them the trainer has neither (unchanged configs)
    steps = training_config(dict(TINY, training=dict(TINY["training"], min_steps=600, max_steps=4000)), "a", "b", "/r")
    assert steps["trainer"]["min_steps"] == 600 and steps["trainer"]["max_steps"] == 4000
    assert "min_steps" not in cfg["trainer"] and "max_steps" not in cfg["trainer"]


def test_strategy_configs():
    eo_training = dict(TINY["training"], **energy_only(TINY["training"]))  # as synpre.recipe.resolve makes it
    eo = training_config(dict(TINY, strategy={"energy_only": True}, training=eo_training), "a.xyz", "b.xyz",
                         "/tmp/run", "p.ckpt")
    module = eo["training_module"]
    assert module["loss"]["coeffs"]["forces"] == 0.0 and module["val_metrics"]["coeffs"]["forces_rmse"] == 0.0
    assert module["lr_scheduler"]["monitor"] == "val0_epoch/per_atom_energy_rmse"
    disc = training_config(dict(TINY, strategy={"xi": 0.5, "freeze_blocks": 1}), "a", "b", "/tmp/run", "p.ckpt")
    groups = disc["training_module"]["optimizer"]["param_groups"]
    assert groups["_target_"] == "synpre.param_groups.layerwise" and groups["xi"] == 0.5
    cos = training_config(dict(TINY, training=dict(TINY["training"], lr_scheduler="cosine")), "a", "b", "/r")
    assert cos["training_module"]["lr_scheduler"]["scheduler"]["T_max"] == 2
    assert "param_groups" not in training_config(TINY, "a", "b", "/r")["training_module"]["optimizer"]
    warm = training_config(dict(TINY, training=dict(TINY["training"], lr_scheduler=False, lr_warmup_steps=40)),
                           "a", "b", "/r", "p.ckpt")["training_module"]["lr_scheduler"]
    assert warm["interval"] == "step" and warm["scheduler"]["total_iters"] == 40
    assert warm["scheduler"]["start_factor"] == 1 / 40


def test_compile_option_reaches_every_model_builder():
    """training.compile -> nequip's train-time torch.compile, from scratch (NequIP, Allegro) and for
    fine-tuning (ModelFromCheckpoint, inside the shift re-fit); off, the configs carry no compile_mode."""
    on = dict(TINY, training=dict(TINY["training"], compile=True))
    allegro = dict(on, model=dict(TINY["model"], architecture="allegro", num_scalar_features=8, num_tensor_features=4))
    assert training_config(on, "a", "b", "/r")["training_module"]["model"]["compile_mode"] == "compile"
    assert training_config(allegro, "a", "b", "/r")["training_module"]["model"]["compile_mode"] == "compile"
    refit = training_config(on, "a", "b", "/r", "p.ckpt")["training_module"]["model"]
    assert refit["_target_"] == "nequip.model.modify" and refit["model"]["compile_mode"] == "compile"
    plain = training_config(dict(on, finetune={"refit_shift": False}), "a", "b", "/r", "p.ckpt")
    assert plain["training_module"]["model"]["compile_mode"] == "compile"
    for pretrained in (None, "p.ckpt"):  # eager stays implicit: unchanged configs, so old resume points still apply
        assert "compile_mode" not in json.dumps(training_config(TINY, "a", "b", "/r", pretrained))
        assert "compile_mode" not in json.dumps(training_config(dict(TINY, training=dict(TINY["training"], compile=False)),
                                                                "a", "b", "/r", pretrained))


@pytest.mark.e2e
def test_min_steps_keeps_early_stopping_from_ending_a_small_run(real, tmp_path):
    """Patience 1 with a min_delta nothing can meet ends a run after its second epoch; with min_steps 15
    (3 steps per epoch: 12 structures, batch 4) early stopping waits until 5 epochs are done. training.json
    says what ended each run (early stopping, or a step budget of 4 steps, which ends the second epoch before its validation)."""
    quick = dict(TINY["training"], max_epochs=50, early_stopping_patience=1, early_stopping_min_delta=100.0)
    for limits, epochs, steps, why in (({"min_steps": 0}, 2, 6, "early_stopping"),
                                       ({"min_steps": 15}, 5, 15, "early_stopping"),
                                       ({"min_steps": 15, "max_steps": 4}, 1, 4, "max_steps")):
        settings = dict(TINY, training=dict(quick, **limits))
        out = tmp_path / "-".join(f"{k}-{v}" for k, v in limits.items())
        train.main(["--settings", json.dumps(settings), "--train", str(real / "train_pool.xyz"), "--val",
                    str(real / "val.xyz"), "--out-dir", str(out)])
        summary = json.loads((out / "training.json").read_text())
        assert (summary["epochs"], summary["steps"], summary["stopped_by"]) == (epochs, steps, why), limits


@pytest.mark.e2e
def test_zbl_pair_potential_gives_a_repulsive_wall_and_survives_finetuning(real, tmp_path):
    """model.pair_potential: zbl adds nequip's ZBL term: a trained model's C-C dimer then rises by tens of
    eV between the bond length and 0.6 A, and a model fine-tuned from it keeps the wall."""
    from synpre.dimer import DISTANCES, dimer_curve, dimer_metrics
    from synpre.models import nequip_calculator

    zbl = dict(TINY, model=dict(TINY["model"], pair_potential="zbl"), training=dict(TINY["training"], max_epochs=1))
    assert training_config(zbl, "a", "b", "/r")["training_module"]["model"]["pair_potential"]["_target_"] == \
        "nequip.nn.pair_potential.ZBL"
    assert "pair_potential" not in json.dumps(training_config(TINY, "a", "b", "/r"))
    args = ["--settings", json.dumps(zbl), "--train", str(real / "train_pool.xyz"), "--val", str(real / "val.xyz")]
    train.main(args + ["--out-dir", str(tmp_path / "pre")])
    train.main(args + ["--pretrained", str(tmp_path / "pre/model.ckpt"), "--out-dir", str(tmp_path / "ft")])
    for run in ("pre", "ft"):
        calc = nequip_calculator(str(tmp_path / run / "model.ckpt"), "cpu")
        e = dimer_curve(calc, "C", "C", DISTANCES, None)
        assert dimer_metrics(DISTANCES, e)["wall_eV"] > 30, run


def test_inductor_cache_is_per_user_unless_set():
    assert train.inductor_cache({"TORCHINDUCTOR_CACHE_DIR": "/mine"})["TORCHINDUCTOR_CACHE_DIR"] == "/mine"
    assert train.inductor_cache({"XDG_CACHE_HOME": "/c"})["TORCHINDUCTOR_CACHE_DIR"] == "/c/synpre/torchinductor"


@pytest.fixture(scope="module")
def scratch_model(real, tmp_path_factory):
    out = tmp_path_factory.mktemp("scratch")
    train.main(["--settings", json.dumps(TINY), "--train", str(real / "train_pool.xyz"), "--val",
                str(real / "val.xyz"), "--keep-epochs", "1", "--out-dir", str(out)])
    return out


def _weights(ckpt):
    """The weights a checkpoint's model is evaluated (and fine-tuned) with: nequip loads the EMA ones."""
    from nequip.model.saved_models import load_saved_model
    from nequip.utils.global_state import set_global_state

    set_global_state()
    model = load_saved_model(str(ckpt))
    return {k.split("func.")[-1]: v.detach().clone() for k, v in model.named_parameters()}


@pytest.mark.e2e
def test_discriminative_finetuning_freezes_and_scales_layers(real, scratch_model, tmp_path):
    """Zaverkin et al.: layer-wise learning rates lr * xi^distance, the first block and the embedding frozen."""
    settings = dict(TINY, strategy={"name": "disc", "xi": 0.1, "freeze_blocks": 1, "freeze_embedding": True},
                    model=dict(TINY["model"], num_layers=2))
    pre = tmp_path / "pre2"
    train.main(["--settings", json.dumps(dict(settings, strategy={})), "--train", str(real / "train_pool.xyz"),
                "--val", str(real / "val.xyz"), "--out-dir", str(pre)])
    ft = tmp_path / "ft"
    train.main(["--settings", json.dumps(settings), "--train", str(real / "train_pool.xyz"), "--val",
                str(real / "val.xyz"), "--pretrained", str(pre / "model.ckpt"), "--out-dir", str(ft)])
    before, after = _weights(pre / "model.ckpt"), _weights(ft / "model.ckpt")
    frozen = [k for k in after if "layer0_convnet" in k or "type_embed" in k]
    trained = [k for k in after if "layer1_convnet" in k or "readout" in k]
    assert frozen and trained
    for k in frozen:
        assert torch_equal(after[k], before[k]), f"{k} moved although frozen"
    assert any(not torch_equal(after[k], before[k]) for k in trained)
    # the learning rates nequip-train used, from its own LR monitor log
    rows = train.read_metrics(ft / "run" / "csvlog" / "version_0" / "metrics.csv")
    lrs = sorted({float(v) for r in rows for k, v in r.items() if k.startswith("lr-") and v}, reverse=True)
    assert lrs[:2] == pytest.approx([TINY["training"]["lr"], TINY["training"]["lr"] * 0.1])


def torch_equal(a, b):
    import torch

    return torch.equal(a, b)


@pytest.mark.e2e
def test_energy_only_finetuning_and_epoch_checkpoint(real, scratch_model, tmp_path):
    """Energy-only fine-tuning (force weight 0) from the weights after pre-training epoch 1; its forces
    are still evaluated like every other model's."""
    assert (scratch_model / "after-epoch-1.ckpt").stat().st_size > 0
    settings = dict(TINY, strategy={"name": "eo", "energy_only": True},
                    training=dict(TINY["training"], **energy_only(TINY["training"])))
    ft = tmp_path / "eo"
    train.main(["--settings", json.dumps(settings), "--train", str(real / "train_pool.xyz"), "--val",
                str(real / "val.xyz"), "--pretrained", str(scratch_model / "after-epoch-1.ckpt"), "--out-dir", str(ft)])
    summary = json.loads((ft / "training.json").read_text())
    assert summary["monitor"] == "val0_epoch/per_atom_energy_rmse"
    evaluate.main(["--model", str(ft / "model.ckpt"), "--test", str(real / "test.xyz"), "--out", str(ft / "m.json")])
    assert np.isfinite(json.loads((ft / "m.json").read_text())["forces_rmse_eV_per_A"])


@pytest.mark.e2e
def test_package_and_compile_load_without_the_run_folder(real, scratch_model, tmp_path):
    """A fine-tuned checkpoint still points to its pre-trained parent; its package must not. The
    compiled (AOTInductor) model must give the same predictions and be usable for evaluation."""
    import shutil

    import export_model

    parent = tmp_path / "parent"
    parent.mkdir()
    shutil.copyfile(scratch_model / "model.ckpt", parent / "model.ckpt")
    ft = tmp_path / "ft"
    train.main(["--settings", json.dumps(TINY), "--train", str(real / "val.xyz"), "--val", str(real / "val.xyz"),
                "--pretrained", str(parent / "model.ckpt"), "--out-dir", str(ft)])
    export_model.main(["--model", str(ft / "model.ckpt"), "--package", str(ft / "model.nequip.zip"),
                       "--check", str(real / "test.xyz")])
    export_model.main(["--model", str(ft / "model.nequip.zip"), "--compile", str(ft / "model.nequip.pt2"),
                       "--check", str(real / "test.xyz"), "--report", str(ft / "model.nequip.pt2.json")])
    report = json.loads((ft / "model.nequip.pt2.json").read_text())
    assert report["max_force_diff_eV_per_A"] < 1e-3
    shutil.rmtree(parent)
    shutil.rmtree(ft / "run")
    for model in ("model.nequip.zip", "model.nequip.pt2"):
        evaluate.main(["--model", str(ft / model), "--test", str(real / "test.xyz"), "--out", str(tmp_path / f"{model}.json")])
    a, b = (json.loads((tmp_path / f"{m}.json").read_text()) for m in ("model.nequip.zip", "model.nequip.pt2"))
    assert a["energy_rmse_meV_per_atom"] == pytest.approx(b["energy_rmse_meV_per_atom"], rel=1e-4)


def test_export_with_a_wrong_extension_is_refused(tmp_path, capsys):
    import export_model

    with pytest.raises(SystemExit):
        export_model.main(["--model", "m.ckpt", "--package", str(tmp_path / "m.zip"), "--check", "t.xyz"])
    assert "needs the .nequip.zip extension" in capsys.readouterr().err


@pytest.mark.e2e
def test_allegro_trains_and_finetunes_discriminatively(real, tmp_path):
    """The second architecture through the same scripts: Allegro from scratch, then fine-tuned with
    layer-wise learning rates (every Allegro parameter is placed in a layer)."""
    settings = dict(TINY, model=dict(TINY["model"], architecture="allegro", num_layers=2, num_scalar_features=8,
                                     num_tensor_features=4))
    pre = tmp_path / "pre"
    train.main(["--settings", json.dumps(settings), "--train", str(real / "train_pool.xyz"), "--val",
                str(real / "val.xyz"), "--out-dir", str(pre)])
    cfg = (pre / "run" / "config.yaml").read_text()
    assert "allegro.model.AllegroModel" in cfg
    ft = tmp_path / "ft"
    train.main(["--settings", json.dumps(dict(settings, strategy={"xi": 0.5, "freeze_embedding": True})),
                "--train", str(real / "val.xyz"), "--val", str(real / "val.xyz"),
                "--pretrained", str(pre / "model.ckpt"), "--out-dir", str(ft)])
    evaluate.main(["--model", str(ft / "model.ckpt"), "--test", str(real / "test.xyz"), "--out", str(ft / "m.json")])
    assert np.isfinite(json.loads((ft / "m.json").read_text())["forces_rmse_eV_per_A"])
    before, after = _weights(pre / "model.ckpt"), _weights(ft / "model.ckpt")
    embed = [k for k in after if "radial_chemical_embed" in k]
    assert embed and all(torch_equal(after[k], before[k]) for k in embed)


STABILITY = {"start": {"config_type": None}, "replicas": 1, "temperatures": [2000], "t_start": 300,
             "ramp_rate_K_per_ps": 85000, "hold_ps": 0.02, "timestep_fs": 1.0, "friction_per_ps": 10, "check_every": 5,
             "record_every": 10, "energy_band": 2.0, "min_distance": 0.7, "alarm_margin": 1.25, "calibration": "teacher",
             "seed": 0}


# Tersoff's forces on these GFN1-xTB cells are far off the training distribution: the survival case
# widens the force alarm, each other case makes one threshold impossible to meet
@pytest.mark.parametrize("change, alarm", [({"alarm_margin": 100}, None), ({"min_distance": 5.0}, "min_distance"),
                                           ({"energy_band": 1e-9, "alarm_margin": 100}, "energy_band"),
                                           ({"alarm_margin": 0.001}, "max_force")])
def test_stability_alarms(real, tmp_path, change, alarm):
    """Each alarm fires when its threshold is made impossible to meet; the default run survives."""
    import stability

    teacher_spec = json.dumps({"name": "tersoff", "kind": "lammps", "potential": "tersoff", "species": ["C"]})
    out = tmp_path / "stability.json"
    stability.main(["--teacher", teacher_spec, "--temperature", "2000", "--start", str(real / "test.xyz"),
                    "--forces-from", str(real / "train_pool.xyz"), "--settings", json.dumps(dict(STABILITY, **change)),
                    "--series", str(tmp_path / "stability.csv"), "--out", str(out)])
    r = json.loads(out.read_text())["runs"][0]
    assert r["alarm"] == alarm and r["survived"] == (alarm is None)
    series = pd.read_csv(tmp_path / "stability.csv")
    if alarm is None:
        assert r["simulated_ps"] == pytest.approx(0.04) and series["step"].iloc[-1] == 40
    else:
        assert r["time_to_failure_ps"] == pytest.approx(series["time_ps"].iloc[-1])


def test_stability_rdf_against_the_teachers_md_and_a_bad_reference(real, tmp_path, capsys):
    """--rdf-reference: the hold-phase RDF goes to --rdf and --rdf-curve; a reference of another system
    stops the job before any MD step, naming the file."""
    import stability
    from ase.build import bulk
    from ase.io import write

    teacher_spec = json.dumps({"name": "tersoff", "kind": "lammps", "potential": "tersoff", "species": ["C"]})
    settings = json.dumps(STABILITY)
    ref = tmp_path / "ref" / "stability.json"
    ref.parent.mkdir()
    stability.main(["--teacher", teacher_spec, "--calibrate", "--temperature", "2000", "--start", str(real / "test.xyz"),
                    "--settings", settings, "--frames", str(ref.with_suffix(".xyz")), "--out", str(ref)])
    out = tmp_path / "model" / "stability.json"
    out.parent.mkdir()
    stability.main(["--teacher", teacher_spec, "--temperature", "2000", "--start", str(real / "test.xyz"),
                    "--settings", settings, "--calibration", str(ref), "--rdf-reference", str(ref.with_suffix(".xyz")),
                    "--rdf", str(out.parent / "rdf.json"), "--rdf-curve", str(out.parent / "rdf.csv"), "--out", str(out)])
    rdf = json.loads((out.parent / "rdf.json").read_text())
    assert rdf["n_frames"] > 0 and rdf["rdf_error"] == pytest.approx(0.0, abs=1e-12)  # the same MD twice
    assert len(pd.read_csv(out.parent / "rdf.csv")) > 0
    si = tmp_path / "si.xyz"
    write(si, bulk("Si", cubic=True))
    bad = tmp_path / "bad" / "stability.json"
    with pytest.raises(SystemExit):
        stability.main(["--teacher", teacher_spec, "--temperature", "2000", "--start", str(real / "test.xyz"),
                        "--settings", settings, "--rdf-reference", str(si), "--rdf", str(bad.with_name("rdf.json")),
                        "--rdf-curve", str(bad.with_name("rdf.csv")), "--series", str(bad.with_suffix(".csv")),
                        "--out", str(bad)])
    err = capsys.readouterr().err
    assert f"{si}: holds elements ['Si'], but the model's MD has ['C']" in err
    assert not bad.exists() and not bad.with_suffix(".csv").exists()  # stopped before the MD


@pytest.mark.e2e
def test_epoch_beyond_early_stop_is_a_clear_error(real, tmp_path, capsys):
    with pytest.raises(SystemExit):
        train.main(["--settings", json.dumps(TINY), "--train", str(real / "train_pool.xyz"), "--val",
                    str(real / "val.xyz"), "--keep-epochs", "5", "--out-dir", str(tmp_path / "x")])
    assert "before epoch 5" in capsys.readouterr().err


@pytest.mark.e2e
def test_train_from_scratch_publishes_model_and_summary(scratch_model):
    summary = json.loads((scratch_model / "training.json").read_text())
    assert (scratch_model / "model.ckpt").stat().st_size > 0
    assert summary["epochs"] == 2 and np.isfinite(summary["best_val_forces_rmse"])
    assert summary["stopped_by"] == "max_epochs"  # TINY's cap of 2 epochs, not convergence


@pytest.mark.e2e
def test_rerunning_a_finished_run_republishes_it_without_training(real, scratch_model):
    """Snakemake reruns a job whose params changed in ways its nequip config does not see: a finished run
    with the same config publishes its best checkpoint again (resuming a finished run crashed Lightning)."""
    before = json.loads((scratch_model / "training.json").read_text())
    train.main(["--settings", json.dumps(TINY), "--train", str(real / "train_pool.xyz"), "--val",
                str(real / "val.xyz"), "--keep-epochs", "1", "--out-dir", str(scratch_model)])
    after = json.loads((scratch_model / "training.json").read_text())
    assert (scratch_model / "model.ckpt").read_bytes() == (scratch_model / "run" / "best.ckpt").read_bytes()
    assert after["resumed"] and after["best_epoch"] == before["best_epoch"]
    assert after["wall_seconds"] == before["wall_seconds"]


@pytest.mark.e2e
def test_compiled_training_matches_eager_and_loads_eagerly(real, scratch_model, tmp_path):
    """SLOW (the one compiled run of the suite): training.compile on, the same tiny run as scratch_model.
    torch.compile takes ~3.5 min here on a cold cache (2 shared cores), ~1.2 min on a warm one
    (TORCHINDUCTOR_CACHE_DIR, by default ~/.cache/synpre/torchinductor), against ~17 s eager. The compiled
    kernels round differently, so the metrics agree with eager's to ~1e-8, not to the bit. The checkpoint
    must still load without compiling, as evaluation and nequip-package load it."""
    import os
    from pathlib import Path

    import export_model

    job = tmp_path / "compiled"
    settings = dict(TINY, training=dict(TINY["training"], compile=True))
    train.main(["--settings", json.dumps(settings), "--train", str(real / "train_pool.xyz"), "--val",
                str(real / "val.xyz"), "--out-dir", str(job)])
    assert "compile_mode: compile" in (job / "run" / "config.yaml").read_text()
    assert Path(train.inductor_cache(dict(os.environ))["TORCHINDUCTOR_CACHE_DIR"]).is_dir()
    compiled, eager = (json.loads((d / "training.json").read_text()) for d in (job, scratch_model))
    assert compiled["epochs"] == eager["epochs"] and compiled["best_epoch"] == eager["best_epoch"]
    for key in ("best_val_monitor", "best_val_forces_rmse", "best_val_per_atom_energy_rmse_meV"):
        assert compiled[key] == pytest.approx(eager[key], rel=1e-5), key
    evaluate.main(["--model", str(job / "model.ckpt"), "--test", str(real / "test.xyz"), "--out", str(job / "m.json")])
    evaluate.main(["--model", str(scratch_model / "model.ckpt"), "--test", str(real / "test.xyz"), "--out",
                   str(tmp_path / "eager.json")])
    a, b = (json.loads(p.read_text()) for p in (job / "m.json", tmp_path / "eager.json"))
    assert a["forces_rmse_eV_per_A"] == pytest.approx(b["forces_rmse_eV_per_A"], rel=1e-5)
    export_model.main(["--model", str(job / "model.ckpt"), "--package", str(job / "model.nequip.zip"),
                       "--check", str(real / "test.xyz")])
    assert (job / "model.nequip.zip").stat().st_size > 0


@pytest.mark.e2e
def test_residual_refit_starts_fine_tuning_from_the_offset_zero_shot_model(real, scratch_model, tmp_path):
    """refit_shift: residual writes the pre-trained shift plus the fitted offset into the nequip config;
    with it the untrained-on model's median per-atom energy error on the fine-tuning data is zero."""
    from synpre.models import nequip_calculator
    from synpre.shift_fit import fitted_shifts, shift_module

    shifts = fitted_shifts(str(scratch_model / "model.ckpt"), str(real / "train_pool.xyz"), ["C"])
    settings = dict(TINY, finetune={"refit_shift": "residual"}, fitted_shifts=shifts)
    cfg = training_config(settings, "a", "b", "/r", str(scratch_model / "model.ckpt"))
    assert cfg["training_module"]["model"]["modifiers"][0]["shifts"] == shifts
    calc = nequip_calculator(str(scratch_model / "model.ckpt"), "cpu")
    old = float(shift_module(calc.model).shifts.reshape(-1)[0])
    frames = read(real / "train_pool.xyz", ":")
    err = []
    for a in frames:
        w = a.copy()
        w.calc = calc
        err.append((a.get_potential_energy() - w.get_potential_energy()) / len(a))
    assert shifts["C"] - old == pytest.approx(np.median(err), abs=1e-6)


@pytest.mark.e2e
def test_finetune_and_evaluate(real, scratch_model, tmp_path):
    ft = tmp_path / "ft"
    train.main(["--settings", json.dumps(TINY), "--train", str(real / "train_pool.xyz"), "--val",
                str(real / "val.xyz"), "--pretrained", str(scratch_model / "model.ckpt"), "--out-dir", str(ft)])
    assert json.loads((ft / "training.json").read_text())["pretrained"] == str(scratch_model / "model.ckpt")
    evaluate.main(["--model", str(ft / "model.ckpt"), "--test", str(real / "test.xyz"), "--out",
                   str(ft / "metrics.json"), "--run-info", '{"teacher": "t", "n_synth": 12, "n_real": 12, "seed": 0}',
                   "--training", str(ft / "training.json"), "--predictions", str(ft / "predictions.xyz"),
                   "--parity", str(ft / "parity.png")])
    m = json.loads((ft / "metrics.json").read_text())
    assert m["n_structures"] == 6 and m["teacher"] == "t" and m["training"]["pretrained"] == str(scratch_model / "model.ckpt")
    assert (ft / "parity.png").read_bytes()[:4] == b"\x89PNG"
    # recompute the headline numbers from the predictions file
    pred = read(ft / "predictions.xyz", ":")
    test = read(real / "test.xyz", ":")
    de = [(p.get_potential_energy() - t.get_potential_energy()) / len(t) for p, t in zip(pred, test)]
    assert m["energy_rmse_meV_per_atom"] == pytest.approx(1e3 * np.sqrt(np.mean(np.square(de))), rel=1e-6)


def test_aggregate_table_and_figure(tmp_path):
    files = []
    for teacher_name, n_synth in (("direct", 0), ("gap", 100)):
        for n_real in (5, 10):
            for seed in (0, 1):
                p = tmp_path / f"{teacher_name}-{n_real}-{seed}.json"
                p.write_text(json.dumps({"study": "s", "teacher": teacher_name, "n_synth": n_synth, "n_real": n_real,
                                         "seed": seed, "energy_rmse_meV_per_atom": 100.0 / n_real + seed,
                                         "forces_rmse_eV_per_A": 1.0, "energy_mae_meV_per_atom": 1.0,
                                         "forces_mae_eV_per_A": 1.0, "n_structures": 3}))
                files.append(str(p))
    (tmp_path / "partial").mkdir()  # an earlier run's partial tables: the complete aggregate replaces them
    (tmp_path / "partial" / "runs.csv").write_text("status\nmissing\n")
    aggregate.main(["--metrics", *files, "--csv", str(tmp_path / "runs.csv"), "--figure", str(tmp_path / "lc.png"),
                    "--summary", str(tmp_path / "summary.md")])
    assert not (tmp_path / "partial").exists()
    df = pd.read_csv(tmp_path / "runs.csv")
    assert len(df) == 8 and set(df["teacher"]) == {"direct", "gap"}
    assert (tmp_path / "lc.png").read_bytes()[:4] == b"\x89PNG"
    summary = (tmp_path / "summary.md").read_text()
    # the paper's layout: a row per N_real, mean ± std over the two seeds (100/5 + 0 and + 1)
    assert re.search(r"\|\s*direct\s*\|", summary) and "gap, 100 synthetic" in summary
    assert "20.5 ± 0.7" in summary


@pytest.mark.parametrize("spec", [
    {"kind": "lammps", "potential": "tersoff"},
    {"kind": "lammps", "potential": "lcbop"},
    {"kind": "ase", "calculator": "ase.calculators.emt:EMT"},
], ids=lambda s: s.get("potential", s.get("calculator")))
def test_classical_and_ase_teachers_label(real, spec, tmp_path):
    teacher.main(["--name", "t", "--spec", json.dumps(spec), "--elements", "C", "--out", str(tmp_path / "t.json")])
    label.main(["--teacher", f"@{tmp_path / 't.json'}", "--inputs", str(real / "val.xyz"),
                "--out", str(tmp_path / "lab.xyz")])
    lab = read(tmp_path / "lab.xyz", ":")
    assert len(lab) == 4 and all(np.isfinite(a.get_forces()).all() for a in lab)
    assert len({round(a.get_potential_energy(), 6) for a in lab}) == 4  # real, structure-dependent labels


def test_ase_teacher_bad_import_path(tmp_path, capsys):
    with pytest.raises(SystemExit):
        teacher.main(["--name", "x", "--spec", '{"kind": "ase", "calculator": "ase.calculators.nope:Nope"}',
                      "--elements", "C", "--out", str(tmp_path / "t.json")])
    assert "teachers.x.calculator: cannot import 'ase.calculators.nope:Nope'" in capsys.readouterr().err


def test_teacher_report(real, fitted_gap, tmp_path):
    import teacher_report

    teacher_report.main(["--teacher", f"@{fitted_gap}", "--test", str(real / "test.xyz"),
                         "--parity", str(tmp_path / "parity.png"), "--out", str(tmp_path / "report.json")])
    r = json.loads((tmp_path / "report.json").read_text())
    assert r["energy_rmse_meV_per_atom"] <= r["energy_rmse_raw_meV_per_atom"]  # offset removal can only help
    assert r["forces_rmse_eV_per_A"] > 0 and (tmp_path / "parity.png").stat().st_size > 0


def _six_epochs(real, out_dir):
    settings = json.dumps(dict(TINY, training=dict(TINY["training"], max_epochs=6, early_stopping_patience=50)))
    return ["--settings", settings, "--train", str(real / "train_pool.xyz"), "--val", str(real / "val.xyz"),
            "--out-dir", str(out_dir)]


def _val_rows(job):
    rows = train.read_metrics(job / "run" / "csvlog" / "version_0" / "metrics.csv")
    return [(r["epoch"], r["val0_epoch/weighted_sum"]) for r in rows if r.get("val0_epoch/weighted_sum")]


@pytest.fixture(scope="module")
def uninterrupted(real, tmp_path_factory):
    job = tmp_path_factory.mktemp("uninterrupted") / "job"
    train.main(_six_epochs(real, job))
    return job


@pytest.mark.e2e
def test_same_seed_gives_identical_metrics_and_weights(real, uninterrupted, tmp_path):
    train.main(_six_epochs(real, tmp_path / "again"))
    assert _val_rows(tmp_path / "again") == _val_rows(uninterrupted)
    first, again = _weights(uninterrupted / "model.ckpt"), _weights(tmp_path / "again" / "model.ckpt")
    assert first.keys() == again.keys() and all(first[k].equal(again[k]) for k in first)


@pytest.mark.e2e
def test_killed_training_resumes_bit_for_bit(real, uninterrupted, tmp_path):
    """SIGKILL mid-run, then rerun the same command: training continues from run/resume.ckpt and ends
    with the uninterrupted run's metrics and weights, to the last bit."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    args = _six_epochs(real, tmp_path / "job")
    proc = subprocess.Popen([sys.executable, str(Path(train.__file__)), *args], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    point = tmp_path / "job" / "run" / "resume.ckpt"
    deadline = time.time() + 300
    while not point.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert point.exists(), "no resume point appeared before the deadline"
    time.sleep(0.1)  # into the epoch after the point
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "job" / "model.ckpt").exists()  # nothing published by the killed run
    train.main(args)
    summary = json.loads((tmp_path / "job" / "training.json").read_text())
    assert summary["resumed"] is True and summary["epochs"] == 6
    # one row per epoch: the killed attempt's rows, then the resumed one's (the cut epoch replaced)
    assert _val_rows(tmp_path / "job") == _val_rows(uninterrupted)
    assert summary["best_val_monitor"] == json.loads((uninterrupted / "training.json").read_text())["best_val_monitor"]
    resumed, plain = _weights(tmp_path / "job" / "model.ckpt"), _weights(uninterrupted / "model.ckpt")
    assert all(resumed[k].equal(plain[k]) for k in plain)


@pytest.mark.e2e
def test_diverging_training_stops_with_a_clear_message(real, tmp_path, capsys):
    settings = dict(TINY, training=dict(TINY["training"], lr=1e3, max_epochs=3))
    args = ["--train", str(real / "train_pool.xyz"), "--val", str(real / "val.xyz"), "--out-dir", str(tmp_path / "job")]
    with pytest.raises(SystemExit):
        train.main(["--settings", json.dumps(settings), *args])
    err = capsys.readouterr().err
    assert re.search(r"ERROR: training diverged in \S+: the loss became (nan|inf) at epoch 1, step \d+, with "
                     r"training.lr=1000; lower training.lr", err), err[-2000:]
    assert not (tmp_path / "job" / "model.ckpt").exists()


@pytest.mark.e2e
def test_diverging_training_retries_with_a_lower_learning_rate(real, tmp_path):
    settings = dict(TINY, training=dict(TINY["training"], lr=1e3, divergence_retries=1, divergence_lr_factor=5e-6))
    train.main(["--settings", json.dumps(settings), "--train", str(real / "train_pool.xyz"), "--val",
                str(real / "val.xyz"), "--out-dir", str(tmp_path / "job")])
    summary = json.loads((tmp_path / "job" / "training.json").read_text())
    assert summary["divergence_retries"] == 1 and summary["lr"] == pytest.approx(5e-3)
    assert summary["epochs"] == 2 and np.isfinite(summary["best_val_monitor"])


def test_eam_fit_teacher_exports_a_working_potential(real, tmp_path):
    """Zheng & Fung's teacher: an EAM fitted to the real pool, written as eam/alloy, used through ASE."""
    spec = {"kind": "eam_fit", "eam": {"cutoff": 3.0, "lr": 0.05, "steps": 40, "fit_max": 6}}
    teacher.main(["--name", "eamt", "--spec", json.dumps(spec), "--elements", "C", "--fit-data",
                  str(real / "train_pool.xyz"), "--out", str(tmp_path / "teacher.json")])
    t = json.loads((tmp_path / "teacher.json").read_text())
    assert t["kind"] == "eam" and t["isolated_atom_energies"]["C"] == pytest.approx(0.0, abs=1e-9)
    fit = json.loads((tmp_path / "eam" / "fit.json").read_text())["history"]
    assert fit[-1]["forces_rmse_eV_per_A"] < fit[0]["forces_rmse_eV_per_A"]  # gradient descent made progress
    assert 1.3 < t["r0_initial"]["C-C"] < 1.6  # from the data: amorphous carbon's bond length
    label.main(["--teacher", f"@{tmp_path / 'teacher.json'}", "--inputs", str(real / "val.xyz"),
                "--out", str(tmp_path / "lab.xyz")])
    assert all(np.isfinite(a.get_forces()).all() for a in read(tmp_path / "lab.xyz", ":"))
    # the tabulated file reproduces the fitted model exactly
    import torch
    from synpre.eam import EAMModel, _Graph

    atoms = read(real / "val.xyz", 0)
    model = EAMModel(["C"], 3.0, torch)
    for name, value in json.loads((tmp_path / "eam" / "fit.json").read_text())["params"].items():
        raw = torch.tensor(value, dtype=torch.float64)
        model.raw[name] = raw if name in ("r0", "c1", "c2") else torch.log(torch.expm1(raw))
    e_torch, _ = model.energies(_Graph([atoms], ["C"], 3.0, torch))
    lab0 = read(tmp_path / "lab.xyz", 0)
    assert lab0.get_potential_energy() == pytest.approx(e_torch.item(), rel=1e-6)


def test_eam_r0_starts_at_each_pairs_nearest_neighbour_distance():
    """Without eam.r0 the Morse r0 of each element pair starts at that pair's nearest-neighbour distance
    in the fitting data: in zincblende SiC, Si-C bonds are a*sqrt(3)/4 and like neighbours a/sqrt(2)."""
    from ase.build import bulk

    from synpre.eam import EAMFitError, nearest_neighbour_r0

    a = 4.36
    sic = bulk("SiC", "zincblende", a=a).repeat(2)
    r0 = nearest_neighbour_r0([sic], ["C", "Si"], 3.5)  # C-C, C-Si, Si-Si
    assert r0 == pytest.approx([a / 2**0.5, a * 3**0.5 / 4, a / 2**0.5])
    assert nearest_neighbour_r0([sic], ["C", "Si"], 2.5) == pytest.approx([a * 3**0.5 / 4] * 3)  # unseen: the others'
    with pytest.raises(EAMFitError, match="within eam.cutoff=1.0 A; raise eam.cutoff or give eam.r0"):
        nearest_neighbour_r0([sic], ["C", "Si"], 1.0)


def test_diverging_eam_fit_names_the_key(real, tmp_path, capsys):
    spec = {"kind": "eam_fit", "eam": {"cutoff": 3.0, "lr": 1e6, "steps": 50, "fit_max": 4}}
    with pytest.raises(SystemExit):
        teacher.main(["--name", "e", "--spec", json.dumps(spec), "--elements", "C", "--fit-data",
                      str(real / "train_pool.xyz"), "--out", str(tmp_path / "t.json")])
    assert "teachers.e.eam: the EAM fit diverged" in capsys.readouterr().err


def test_ace_fit_teacher_fits_labels_and_loads_by_path(real, tmp_path):
    """The paper's ACE row: pacemaker fits an ACE to the real pool; its .yace labels through python-ace
    and is usable again as a plain `ace` teacher by path (what a user does with their own .yace)."""
    spec = {"kind": "ace_fit", "ace": {"cutoff": 4.0, "n_functions": 8, "nradmax": [4, 2], "lmax": [0, 1],
                                       "maxiter": 15, "fit_max": 6, "backend": "pyace", "kappa": 0.3}}
    teacher.main(["--name", "acet", "--spec", json.dumps(spec), "--elements", "C", "--fit-data",
                  str(real / "train_pool.xyz"), "--out", str(tmp_path / "teacher.json")])
    t = json.loads((tmp_path / "teacher.json").read_text())
    assert t["kind"] == "ace" and t["path"].endswith(".yace") and t["fitted"]
    label.main(["--teacher", f"@{tmp_path / 'teacher.json'}", "--inputs", str(real / "val.xyz"),
                "--out", str(tmp_path / "lab.xyz")])
    labelled = read(tmp_path / "lab.xyz", ":")
    assert len(labelled) == 4 and all(np.isfinite(a.get_forces()).all() for a in labelled)
    # the fit made progress on its own data (pacemaker's loss log: first vs last iteration)
    losses = [float(m) for m in re.findall(r"Loss:\s+Total:\s+([0-9.e+-]+)", (tmp_path / "ace" / "pacemaker.log").read_text())]
    assert len(losses) >= 2 and losses[-1] < losses[0]
    by_path = {"kind": "ace", "path": t["path"]}
    teacher.main(["--name", "user-ace", "--spec", json.dumps(by_path), "--elements", "C",
                  "--out", str(tmp_path / "user" / "teacher.json")])
    again = json.loads((tmp_path / "user" / "teacher.json").read_text())
    assert again["isolated_atom_energies"] == pytest.approx(t["isolated_atom_energies"])


@pytest.mark.parametrize("kind, message", [
    ("ace_fit", r"teachers\.a\.ace: ace_fit needs its basis settings"),
    ("eam_fit", r"teachers\.a\.eam: eam_fit needs its fit settings, at least the cutoff"),
    ("gap_fit", r"teachers\.a\.gap: gap_fit needs its descriptor settings"),
])
def test_fitted_teacher_without_its_settings_names_the_key(kind, message):
    from synpre.teachers import TeacherError, check_teacher_spec

    with pytest.raises(TeacherError, match=message + r".*; add the `\w+:` block under teachers\.a"):
        check_teacher_spec("a", {"kind": kind}, ["C"])


def test_ace_teacher_without_python_ace_is_a_clear_error(tmp_path, monkeypatch):
    import sys

    from synpre.teachers import TeacherError, check_teacher_spec

    (tmp_path / "c.yace").write_text("elements: [C]\n")
    monkeypatch.setitem(sys.modules, "pyace", None)  # as in an environment without python-ace
    with pytest.raises(TeacherError, match="ace needs python-ace"):
        check_teacher_spec("c-ace", {"kind": "ace", "path": str(tmp_path / "c.yace")}, ["C"])
    with pytest.raises(TeacherError, match=r"teachers\.f\.ace\.backend: tensorpot needs"):
        check_teacher_spec("f", {"kind": "ace_fit", "ace": {"cutoff": 4.0, "backend": "tensorpot"}}, ["C"])
    with pytest.raises(TeacherError, match="teachers.c-ace.path: ACE file"):
        check_teacher_spec("c-ace", {"kind": "ace", "path": str(tmp_path / "missing.yace")}, ["C"])


# Universal potentials with the weights shipped in their wheels (sevenn, chgnet), on tiny cells.
UNIVERSAL_SPECS = [{"kind": "sevennet", "model": "7net-0", "device": "cpu"},
                   {"kind": "chgnet", "model": "0.3.0", "device": "cpu"}]


@pytest.mark.parametrize("spec", UNIVERSAL_SPECS, ids=lambda s: s["kind"])
def test_universal_teacher_labels_referenced_to_its_own_isolated_atom(spec, tmp_path):
    """teacher.json records the model and the isolated atom it measured; label.py's energies are the model's
    minus that reference, with its forces and (ASE-convention) stress."""
    from ase.build import bulk

    from synpre.teachers import make_calculator

    teacher.main(["--name", "u", "--spec", json.dumps({"kind": spec["kind"], "device": "cpu"}), "--elements", "C",
                  "--out", str(tmp_path / "t.json")])
    t = json.loads((tmp_path / "t.json").read_text())
    assert t["model"] == spec["model"] and t["kind"] == spec["kind"]  # the default model, written down
    e0 = t["isolated_atom_energies"]["C"]
    assert -5 < e0 < 0  # a free atom's energy of a PBE-trained model (MPtrj references)
    cells = [bulk("C", "diamond", a=3.567, cubic=True), bulk("C", "diamond", a=3.567, cubic=True)]
    cells[1].rattle(0.05, seed=1)
    write(tmp_path / "in.xyz", cells)
    label.main(["--teacher", f"@{tmp_path / 't.json'}", "--inputs", str(tmp_path / "in.xyz"),
                "--out", str(tmp_path / "out.xyz")])
    lab = read(tmp_path / "out.xyz", ":")
    raw = cells[1].copy()
    raw.calc = make_calculator(t)
    assert lab[1].get_potential_energy() == pytest.approx(raw.get_potential_energy() - 8 * e0, abs=1e-4)
    assert lab[1].get_forces() == pytest.approx(raw.get_forces(), abs=1e-4)
    # diamond is bound by ~7-8 eV/atom in PBE; the perfect crystal has no forces, the rattled one has
    assert -9 < lab[0].get_potential_energy() / 8 < -6
    assert np.abs(lab[0].get_forces()).max() < 1e-3 < np.abs(lab[1].get_forces()).max()
    assert lab[0].calc.results["stress"].shape == (6,) and lab[0].info["teacher"] == "u"


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["sevennet", "chgnet"])
def test_every_listed_universal_model_loads_from_the_wheel_with_its_elements(kind):
    """UNIVERSAL lists what the pinned wheels hold: each model loads offline, SevenNet's checkpoints name exactly
    MPtrj's elements (and 7net-mf-0 its modals), CHGNet embeds Z 1-94; stress follows ASE's sign convention."""
    from ase.build import bulk

    from synpre.teachers import MPTRJ_ELEMENTS, UNIVERSAL, make_calculator

    for model, (elements, modals) in UNIVERSAL[kind][3].items():
        spec = {"kind": kind, "model": model, "device": "cpu"} | ({"modal": modals[0]} if modals else {})
        calc = make_calculator(spec)
        if kind == "sevennet":
            assert sorted(calc.sevennet_config["chemical_species"]) == sorted(elements) == sorted(MPTRJ_ELEMENTS)
            assert sorted(calc.model.modal_map or {}) == sorted(modals)
        else:
            assert calc.model.atom_embedding.embedding.num_embeddings == 94
        a = bulk("C", "diamond", a=3.45, cubic=True)  # compressed: the stress is compressive, negative in ASE
        a.calc = calc
        energies = []
        for eps in (-0.005, 0.005):
            b = a.copy()
            b.set_cell(a.cell * (1 + eps), scale_atoms=True)
            b.calc = calc
            energies.append(b.get_potential_energy())
        numerical = (energies[1] - energies[0]) / 0.01 / a.get_volume() / 3
        assert a.get_stress()[:3].mean() == pytest.approx(numerical, rel=0.05) and numerical < 0, model


def test_zero_shot_baseline_takes_only_the_energy_offset_from_the_n_real_structures(real, tmp_path):
    """rule zero_shot with a fast teacher (EMT): one metrics.json per N_real, the offset that best explains
    the per-atom residuals on those structures (least absolute deviations: their median for one element), the
    nested sets' shared structures evaluated once, and MD speed."""
    import zero_shot

    teacher.main(["--name", "emt", "--spec", '{"kind": "ase", "calculator": "ase.calculators.emt:EMT"}',
                  "--elements", "C", "--out", str(tmp_path / "t.json")])
    pool = read(real / "train_pool.xyz", ":")
    write(tmp_path / "train-2.xyz", pool[:2])
    write(tmp_path / "train-5.xyz", pool[:5])
    outs = [str(tmp_path / f"m{n}.json") for n in (2, 5)]
    zero_shot.main(["--teacher", f"@{tmp_path / 't.json'}", "--test", str(real / "test.xyz"),
                    "--train", str(tmp_path / "train-2.xyz"), str(tmp_path / "train-5.xyz"),
                    "--md-speed", '{"steps": 5, "warmup": 1}', "--run-info", '{"study": "s"}',
                    "--predictions", str(tmp_path / "pred.xyz"), "--out", *outs])
    m2, m5 = (json.loads(open(o).read()) for o in outs)
    assert (m2["teacher"], m2["strategy"], m2["n_real"], m5["n_real"], m2["study"]) == ("zero-shot", "emt", 2, 5, "s")
    from ase.calculators.emt import EMT

    e0 = json.loads((tmp_path / "t.json").read_text())["isolated_atom_energies"]["C"]
    residual = []
    for a in pool[:5]:
        b = a.copy()
        b.calc = EMT()
        residual.append((a.get_potential_energy() - (b.get_potential_energy() - len(a) * e0)) / len(a))
    assert m5["energy_offsets_eV_per_atom"]["C"] == pytest.approx(np.median(residual), abs=1e-6)
    assert m2["energy_offsets_eV_per_atom"]["C"] == pytest.approx(np.median(residual[:2]), abs=1e-6)
    assert m5["forces_rmse_eV_per_A"] == m2["forces_rmse_eV_per_A"] > 0  # forces need no offset
    assert m5["energy_rmse_test_offset_meV_per_atom"] <= m5["energy_rmse_meV_per_atom"] < m5["energy_rmse_raw_meV_per_atom"]
    assert m5["md_steps_per_second"] > 0 and m5["md_atoms"] == 64 and len(read(tmp_path / "pred.xyz", ":")) == 6


def test_aggregate_puts_zero_shot_baselines_and_md_speed_beside_the_models(tmp_path):
    files, speeds = [], []
    for name, n_synth, strategy in (("direct", 0, "scratch"), ("u", 100, "full")):
        for n_real in (5, 10):
            base = {"study": "s", "teacher": name, "strategy": strategy, "n_synth": n_synth, "n_real": n_real,
                    "seed": 0}
            p = tmp_path / f"{name}-{n_real}.json"
            p.write_text(json.dumps(base | {"energy_rmse_meV_per_atom": 100.0 / n_real, "forces_rmse_eV_per_A": 1.0,
                                            "energy_mae_meV_per_atom": 1.0, "forces_mae_eV_per_A": 1.0,
                                            "n_structures": 3}))
            files.append(str(p))
            q = tmp_path / f"{name}-{n_real}-speed.json"
            q.write_text(json.dumps(base | {"md_steps_per_second": 40.0}))
            speeds.append(str(q))
    baselines = []
    for n_real in (5, 10):
        p = tmp_path / f"zs-{n_real}.json"
        p.write_text(json.dumps({"study": "s", "teacher": "zero-shot", "strategy": "7net-0", "n_synth": 0,
                                 "n_real": n_real, "seed": 0, "energy_rmse_meV_per_atom": 30.0,
                                 "forces_rmse_eV_per_A": 0.5, "energy_mae_meV_per_atom": 1.0,
                                 "forces_mae_eV_per_A": 1.0, "md_steps_per_second": 1.5}))
        baselines.append(str(p))
    aggregate.main(["--metrics", *files, "--baselines", *baselines, "--md-speed", *speeds,
                    "--csv", str(tmp_path / "runs.csv"), "--figure", str(tmp_path / "lc.png"),
                    "--summary", str(tmp_path / "summary.md")])
    df = pd.read_csv(tmp_path / "runs.csv")
    assert set(df["teacher"]) == {"direct", "u", "zero-shot"}
    assert (df.loc[df["teacher"] != "zero-shot", "md_steps_per_second"] == 40.0).all()
    assert (df.loc[df["teacher"] == "zero-shot", "md_steps_per_second"] == 1.5).all()
    assert df.loc[df["teacher"] == "direct", "beats_constant"].isna().all()  # no constant predictor given
    summary = (tmp_path / "summary.md").read_text()
    header = next(line for line in summary.splitlines() if "zero-shot" in line and "direct" in line)
    assert header.index("7net-0 zero-shot") < header.index("direct")  # the baselines first
    md = summary.split("## MD speed (steps/s)")[1].split("\n## ")[0]
    assert re.search(r"\|\s+5 \|\s+1\.5 \|\s+40 \|\s+40 \|", md), md  # zero-shot, direct, pre-trained
