"""The study config without snakemake: schema defaults (synpre.configcheck), the cross-field checks
(synpre.validate) and the one resolver of a run's training recipe (synpre.recipe)."""


import pytest
import yaml

from conftest import ROOT
from synpre import validate
from synpre.configcheck import check_config, drop_disabled, fill_defaults, load_schema
from synpre.recipe import resolve

SCHEMA = load_schema(str(ROOT / "workflow/schemas/config.schema.yaml"))


def study(path="config/config.yaml", **change) -> dict:
    """A shipped study config as the workflow sees it: schema-checked, defaults filled, ``change`` applied first."""
    config = yaml.safe_load((ROOT / path).read_text())
    config.update(change)
    check_config(config, SCHEMA, path)
    fill_defaults(config, SCHEMA)
    drop_disabled(config)
    return config


@pytest.fixture
def in_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the configs name their data relative to the checkout


def test_a_new_datasets_config_states_only_data_elements_teacher_sampling_and_sweep(in_root):
    """config/minimal.yaml: every other key is a schema default, and its runs train with the default
    study's recipe and model."""
    raw = yaml.safe_load((ROOT / "config/minimal.yaml").read_text())
    assert set(raw) == {"study", "elements", "reference", "teachers", "pretrain_teachers", "sampling",
                        "n_synth", "n_real", "seeds"}
    assert set(raw["reference"]) == {"files", "isolated_atom_energies"}
    assert set(raw["sampling"]) == {"composition", "densities", "anneal_temperatures"}
    minimal, default = study("config/minimal.yaml"), study()
    validate.check_study(minimal)
    for stage, strategy in (("direct", None), ("finetune", "full"), ("pretrain", None)):
        ours, theirs = resolve(minimal, stage, strategy, 25), resolve(default, stage, strategy, 25)
        assert ours["model"] == theirs["model"] and ours.get("finetune") == theirs.get("finetune")
        if stage != "pretrain":  # pre-training: the default study's pretraining overrides are its own
            assert ours["training"] == theirs["training"]
    assert minimal["sampling"]["protocol"] == default["sampling"]["protocol"]


def test_a_partial_training_section_is_completed_by_the_defaults():
    """A study that changes one training key keeps every other from the schema, and pretraining's and a
    strategy's keys still override it; the schema fills nothing into those overrides."""
    config = study("config/minimal.yaml", training={"lr": 0.001}, pretraining={"ema_decay": 0.999},
                   finetune={"strategies": {"slow": {"training": {"lr": 0.0001}}}})
    default = study()["training"]
    assert config["training"] == dict(default, lr=0.001)
    assert config["pretraining"] == {"ema_decay": 0.999}
    assert config["finetune"]["strategies"]["slow"]["training"] == {"lr": 0.0001}
    pre = resolve(config, "pretrain")["training"]
    assert pre["ema_decay"] == 0.999 and pre["lr"] == 0.001 and pre["max_epochs"] == default["max_epochs"]
    assert resolve(config, "finetune", "slow")["training"]["lr"] == 0.0001
    assert resolve(config, "direct")["training"]["ema_decay"] == default["ema_decay"]


def test_finetune_training_overrides_every_strategy_but_not_direct_training():
    config = study("config/minimal.yaml", finetune={"training": {"lr_warmup_steps": 50, "lr": 0.002},
                                                   "strategies": {"full": {}, "slow": {"training": {"lr": 0.0001}}}})
    full, slow = (resolve(config, "finetune", k)["training"] for k in ("full", "slow"))
    assert full["lr_warmup_steps"] == 50 and full["lr"] == 0.002
    assert slow["lr_warmup_steps"] == 50 and slow["lr"] == 0.0001  # the strategy's own key wins
    for stage in ("direct", "pretrain"):
        assert "lr_warmup_steps" not in resolve(config, stage)["training"]


def test_pretraining_overrides_training_and_compile_follows_the_run_size():
    config = study()
    pre = resolve(config, "pretrain", n_train=800)["training"]
    assert pre["ema_decay"] == 0.999 and pre["max_steps"] == 4000 and pre["lr"] == config["training"]["lr"]
    assert pre["compile"] is True and "compile_min_structures" not in pre
    assert resolve(config, "direct", n_train=10)["training"]["compile"] is False
    assert resolve(config, "direct", n_train=25)["training"]["compile"] is True
    assert resolve(config, "direct")["training"]["compile"] is True  # size unknown: as configured
    ft = resolve(config, "finetune", "full", 10)
    assert ft["strategy"]["name"] == "full" and ft["training"]["ema_decay"] == 0.99
    assert config["training"]["compile_min_structures"] == 20  # resolving leaves the config alone


def test_a_strategy_overrides_training_and_energy_only_changes_loss_and_monitor():
    strategies = {"full": {}, "gentle": {"energy_only": True, "xi": 0.5, "refit_shift": "residual",
                                         "training": {"lr": 0.0005, "loss": {"energy": 2.0, "forces": 1.0}}}}
    config = study(finetune={"strategies": strategies})
    s = resolve(config, "finetune", "gentle")
    assert s["training"]["lr"] == 0.0005 and s["training"]["loss"] == {"energy": 2.0, "forces": 0.0}
    assert s["training"]["monitor"] == "per_atom_energy_rmse"
    assert s["finetune"]["refit_shift"] == "residual" and s["strategy"]["xi"] == 0.5
    assert "training" not in s["strategy"]
    full = resolve(config, "finetune", "full")
    assert full["training"]["loss"] == {"energy": 4.0, "forces": 1.0} and full["finetune"]["refit_shift"] == "residual"
    with pytest.raises(ValueError, match="unknown training stage"):
        resolve(config, "pretraining")


def test_the_default_study_passes_every_check(in_root):
    validate.check_study(study())
    validate.check_cluster_resources(study(), {"pretrain", "finetune", "direct"})


@pytest.mark.parametrize("change, message", [
    ({"pretrain_teachers": ["nope"]}, "config pretrain_teachers: 'nope' is not defined under `teachers`"),
    ({"teachers": {"direct": {"kind": "lammps", "potential": "tersoff"}}, "pretrain_teachers": ["direct"]},
     "config teachers: the name 'direct' is reserved"),
    ({"teachers": {"e": {"kind": "eam_fit"}}, "pretrain_teachers": ["e"]},
     "config teachers.e.eam: eam_fit needs"),
    ({"elements": ["C", "Si"]}, "config reference.isolated_atom_energies: no value for ['Si']"),
    ({"n_synth": [10000], "perturbation": {"enabled": False, "displacements": [0.1]}}, "config n_synth: 10000 (+ n_val_synth=40) is more than the 900 structures"),
    ({"finetune": {"strategies": {"deep": {"freeze_blocks": 3}}}},
     "config finetune.strategies.deep.freeze_blocks: 3 blocks to freeze, but the model has model.num_layers=2"),
    ({"finetune": {"strategies": {"late": {"checkpoint": 301}}}},
     "config finetune.strategies.late.checkpoint: epoch 301 is beyond pre-training's max_epochs=300"),
    ({"finetune": {"strategies": {"eo": {"energy_only": True, "training": {"loss": {"energy": 0, "forces": 1}}}}}},
     "config finetune.strategies.eo.energy_only: the energy loss weight is 0"),
    ({"finetune": {"strategies": {"w": {"training": {"lr_warmup_steps": 50, "lr_scheduler": "cosine"}}}}},
     "config finetune.strategies.w.training.lr_warmup_steps: a warm-up needs lr_scheduler: false (it is cosine)"),
    ({"stability": {"rdf_reference": {"teacher": "nope"}}}, "config stability.rdf_reference.teacher: 'nope'"),
    ({"stability": {"rdf_reference": {"files": {1500: "data/carbon-gfn1-nvt-1000K.extxyz.gz"}}}},
     "config stability.rdf_reference.files: 1500 K is not a hold temperature (stability.temperatures: [1000, 2000])"),
    ({"stability": {"rdf_reference": {"files": {"hot": "data/carbon-gfn1-nvt-1000K.extxyz.gz"}}}},
     "config stability.rdf_reference.files: key 'hot' is not a temperature in K"),
    ({"stability": {"rdf_reference": {"files": {1000: "data/ethanol.xyz"}}}},
     "config stability.rdf_reference.files.1000: data/ethanol.xyz holds elements ['C', 'H', 'O'], outside the study's elements ['C']"),
    ({"stability": {"temperatures": [1000, 0]}}, "config stability.temperatures / t_start: temperatures must be > 0 K"),
    ({"stability": {"temperatures": [1000, 1e3]}}, "config stability.temperatures: [1000, 1000.0] names a temperature twice"),
    ({"alchemy": {"species_map": {"C": "C"}}, "perturbation": {"enabled": False, "displacements": [0.1]}}, "config alchemy: a fitted teacher (gap_fit, eam_fit, ace_fit)"),
    ({"short_range": {"r_min": 2.0, "r_max": 1.0}}, "config short_range.r_min: 2.0 A is not below r_max (1.0 A)"),
    # universal potentials: an unknown model, a model without an element of the study, a modal missing or misplaced
    ({"teachers": {"u": {"kind": "sevennet", "model": "7net-9"}}, "pretrain_teachers": ["u"]},
     "config teachers.u.model: unknown sevennet model '7net-9'; use one of 7net-0, 7net-0_22may2024, 7net-l3i5, "
     "7net-mf-0 (the models whose weights ship with sevenn==0.13.0)"),
    ({"teachers": {"u": {"kind": "chgnet", "model": "0.4.0"}}, "pretrain_teachers": ["u"]},
     "config teachers.u.model: unknown chgnet model '0.4.0'; use one of 0.3.0, 0.2.0, r2scan"),
    ({"elements": ["C", "Po"], "teachers": {"u": {"kind": "sevennet"}}, "pretrain_teachers": ["u"]},
     "config teachers.u.model: sevennet 7net-0 does not cover Po (it was trained on the 89 elements of MPtrj); "
     "choose a teacher of another kind for C, Po"),
    ({"elements": ["C", "Rn"], "teachers": {"u": {"kind": "chgnet", "model": "r2scan"}}, "pretrain_teachers": ["u"]},
     "config teachers.u.model: chgnet r2scan does not cover Rn"),
    ({"teachers": {"u": {"kind": "sevennet", "model": "7net-mf-0"}}, "pretrain_teachers": ["u"]},
     "config teachers.u.modal: 7net-mf-0 is a multi-fidelity model; set modal to one of PBE, R2SCAN (got None)"),
    ({"teachers": {"u": {"kind": "sevennet", "modal": "PBE"}}, "pretrain_teachers": ["u"]},
     "config teachers.u.modal: 7net-0 has a single fidelity; remove modal"),
    ({"sampling": {"composition": {"C": 64}, "densities": [2.0], "anneal_temperatures": [2000],
                   "driver": {"kind": "sevennet", "model": "7net-O"}}},
     "config sampling.driver.model: unknown sevennet model '7net-O'"),
    ({"baselines": {"zero_shot": ["7net"]}}, "config baselines.zero_shot: '7net' is not defined under `teachers`"),
    ({"baselines": {"zero_shot": ["gap-fit"]}}, "config baselines.zero_shot: 'gap-fit' is fitted to the real training pool"),
    ({"teachers": {"u": {"kind": "chgnet"}}, "pretrain_teachers": ["u"], "baselines": {"finetuned": {"teachers": ["u"]}}},
     "config baselines.finetuned.teachers: 'u' is of kind chgnet; only sevennet teachers can be fine-tuned"),
    ({"baselines": {"finetuned": {"teachers": ["7net"]}}},
     "config baselines.finetuned.teachers: '7net' is not defined under `teachers`"),
    ({"teachers": {"zero-shot": {"kind": "chgnet"}}, "pretrain_teachers": ["zero-shot"]},
     "config teachers: the name 'zero-shot' is reserved"),
])
def test_cross_field_errors_name_the_key(change, message, in_root):
    with pytest.raises(ValueError) as err:
        validate.check_study(study(**change))
    assert message in str(err.value)


def test_the_universal_overlay_passes_every_check_and_names_a_shipped_model(in_root):
    """config/universal.yaml on config/config.yaml: a universal teacher labels, and is the zero-shot baseline."""
    from snakemake.utils import update_config

    from synpre.teachers import UNIVERSAL

    raw = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    update_config(raw, yaml.safe_load((ROOT / "config/universal.yaml").read_text()))
    check_config(raw, SCHEMA, "config/universal.yaml")
    fill_defaults(raw, SCHEMA)
    validate.check_study(raw)
    (teacher,) = raw["pretrain_teachers"]
    spec = raw["teachers"][teacher]
    assert spec["kind"] in UNIVERSAL and spec["model"] in UNIVERSAL[spec["kind"]][3]
    assert raw["baselines"]["zero_shot"] == [teacher] and raw["md_speed"]["steps"] > 0


def test_universal_element_lists_are_mptrjs():
    from synpre.teachers import MPTRJ_ELEMENTS, UNIVERSAL

    assert len(MPTRJ_ELEMENTS) == 89 and {"H", "C", "Si", "O", "Pu"} <= set(MPTRJ_ELEMENTS)
    assert not {"Po", "At", "Rn", "Fr", "Ra", "Am"} & set(MPTRJ_ELEMENTS)
    assert all(models for *_, models in UNIVERSAL.values())


def test_compile_without_a_compiler_names_the_first_compiled_recipe(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    config = study()
    with pytest.raises(ValueError, match=r"config training\.compile: torch.compile needs a C\+\+ compiler"):
        validate.check_compiler(config, {})
    validate.check_compiler(config, {"CXX": "/opt/bin/g++"})
    config["training"]["compile"] = config["pretraining"]["compile"] = False
    validate.check_compiler(config, {})


def test_misspelt_rule_under_cluster_resources():
    config = study()
    config["cluster"]["resources"]["pretrian"] = {"mem_mb": 64000}
    with pytest.raises(ValueError, match=r"cluster.resources.pretrian: .*\(did you mean pretrain\?\)"):
        validate.check_cluster_resources(config, {"pretrain", "finetune", "direct"})


def test_synthetic_supply_counts_every_source():
    config = study()
    assert validate.max_synthetic(config["sampling"]) == 6 * 3 * 2 * (1000 + 3000 + 1000) // 200
    assert validate.max_synthetic({"enabled": False}) == 0
    assert validate.max_perturbed({"displacements": [0, 0.1], "rounds": 2, "max_sources": 3}) == 12
    assert validate.max_perturbed({"displacements": [0.1]}) is None  # bounded by the real pool only
    assert validate.max_nvt(None) == 0 and validate.max_nvt({"temperatures": [300], "steps": 10}) is None
    assert validate.max_short_range(None, 1) == 0
    short = {"dimers": 30, "trimers": 40, "compressed_scales": [0.85, 0.9], "max_sources": 20}
    assert validate.max_short_range(short, 1) == 30 + 40 + 20 * 2 and validate.max_short_range(short, 2) == 3 * 30 + 40 + 40
    assert validate.max_short_range(dict(short, max_sources=None), 1) is None  # the whole real pool
    assert validate.max_short_range(dict(short, compressed_scales=[]), 1) == 70
    assert validate.teacher_elements(config) == ["C"]
    assert validate.teacher_elements(dict(config, alchemy={"species_map": {"C": "Si"}})) == ["C"]


@pytest.mark.parametrize("old, new", [("t_max", "stability.temperatures"), ("ramp_ps", "stability.ramp_rate_K_per_ps"),
                                      ("force_sigma", "stability.alarm_margin")])
def test_a_replaced_stability_key_names_its_successor(old, new):
    """A config written for the one-run stability protocol is told what replaced each of its keys."""
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    config["stability"][old] = 1
    with pytest.raises(ValueError, match=f"config key stability.{old} was replaced by {new}"):
        check_config(config, SCHEMA, "config/config.yaml")


def test_the_calibrating_teacher_must_be_a_pretraining_teacher_and_run_the_studys_cells(in_root):
    config = study()
    config["teachers"]["other"] = {"kind": "lammps", "potential": "tersoff"}
    config["stability"]["rdf_reference"] = {"teacher": "other"}
    with pytest.raises(ValueError, match="config stability.rdf_reference.teacher: 'other' is not a pre-training teacher"):
        validate.check_stability(config)
    alchemy = study("tests/config/alchemy.yaml", stability={"enabled": True})
    with pytest.raises(ValueError, match="config stability: with alchemy the teachers know only the source element"):
        validate.check_stability(alchemy)
    alchemy["stability"].update(calibration="data", rdf_reference={"file": "si.xyz"})
    assert validate.stability_teacher(alchemy) is None


def test_stability_teacher_calibrates_unless_data_and_a_reference_file(in_root):
    assert validate.stability_teacher(study()) == "gap-fit"
    assert validate.stability_teacher(study(stability={"calibration": "data"})) == "gap-fit"  # still the RDF reference
    assert validate.stability_teacher(study(stability={"calibration": "data", "rdf_reference": {"file": "x.xyz"}})) is None
    assert validate.stability_teacher(study(stability={"rdf_reference": {"file": "x.xyz"}})) == "gap-fit"  # calibrates


def test_the_strict_overlay_switches_the_default_perturbation_off(in_root):
    """The default study perturbs the real training cells into synthetic data; the strict study's synthetic data
    come from MD alone (`perturbation: {enabled: false}` over the default's block: no perturbation at all)."""
    from snakemake.utils import update_config

    assert study()["perturbation"]["displacements"] == [0.1]
    raw = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    update_config(raw, yaml.safe_load((ROOT / "config/strict.yaml").read_text()))
    check_config(raw, SCHEMA, "config/strict.yaml")
    fill_defaults(raw, SCHEMA)
    drop_disabled(raw)
    assert "perturbation" not in raw
    validate.check_study(raw)


DOC_OVERLAYS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*/*.yaml"))


def documented_configfiles(overlay: str) -> list[str]:
    """The config files of the first `snakemake ... --configfile A B ...` line in an overlay's comments."""
    for line in (ROOT / overlay).read_text().splitlines():
        if line.startswith("#") and "--configfile" in line:
            words = line.split("--configfile", 1)[1].split()
            return [w for w in words[:next((i for i, w in enumerate(words) if not w.endswith(".yaml")), None)]]
    raise AssertionError(f"{overlay} documents no `snakemake ... --configfile` command")


@pytest.mark.parametrize("overlay", DOC_OVERLAYS)
def test_every_experiment_overlay_under_docs_passes_every_check_with_its_documented_command(overlay, in_root):
    """The overlays beside the measured results (docs/*/*.yaml) are what a reader reruns: the command in each
    file's comments names itself last, and the merged config passes the schema and the cross-field checks."""
    from snakemake.utils import update_config

    files = documented_configfiles(overlay)
    assert files[0] == "config/config.yaml" and files[-1] == overlay, files
    raw = {}
    for f in files:
        update_config(raw, yaml.safe_load((ROOT / f).read_text()))
    check_config(raw, SCHEMA, overlay)
    fill_defaults(raw, SCHEMA)
    drop_disabled(raw)
    validate.check_study(raw)
