"""What the JSON schema cannot say about a study config: cross-field checks, run before any job.

Pure functions of the config dict (already checked against the schema and filled with its defaults by
synpre.configcheck), so they are tested without snakemake. Each error is one ValueError line that names
the config key and the fix; the workflow (workflow/rules/common.smk) calls :func:`check_study` when it
is parsed and :func:`check_cluster_resources` once every rule is defined.
"""

from __future__ import annotations

import os
from pathlib import Path

from .configcheck import nearest
from .nequip_config import ARCHITECTURES
from .recipe import resolve
from .sampling import mqa_stages
from .short_range import max_short_range
from .teachers import FITTED_KINDS, TeacherError, UNIVERSAL, check_teacher_spec, check_universal

# names a teacher may not have: folders of results/<study>/ that are not teachers
RESERVED = {"direct", "constant", "zero-shot", "teachers", "reference", "synthetic", "logs", "benchmarks"}


def teacher_elements(config: dict) -> list[str]:
    """Elements the teachers must cover: the real data's, or with alchemy the synthetic source's."""
    if config.get("alchemy"):
        return sorted(config["sampling"]["composition"])
    return config["elements"]


def check_study(config: dict, env=None) -> None:
    """Every cross-field check of a study config; raises ValueError naming the key. ``env`` (default
    os.environ) is where check_compiler looks for CXX."""
    check_teachers(config)
    check_drivers(config)
    check_baselines(config)
    check_reference(config)
    check_alchemy(config)
    check_model(config)
    check_compiler(config, os.environ if env is None else env)
    check_strategies(config)
    check_schedules(config)
    check_stability(config)
    check_short_range(config)
    check_synthetic_supply(config)


def check_teachers(config: dict) -> None:
    """Every pre-training teacher is defined, not named like a results folder, and buildable."""
    for name in config["pretrain_teachers"]:
        if name not in config["teachers"]:
            raise ValueError(
                f"config pretrain_teachers: {name!r} is not defined under `teachers` "
                f"(defined: {sorted(config['teachers'])})"
            )
        if name in RESERVED:
            raise ValueError(f"config teachers: the name {name!r} is reserved; rename the teacher")
    for name in config["pretrain_teachers"]:
        try:
            check_teacher_spec(name, config["teachers"][name], teacher_elements(config))
        except TeacherError as exc:
            raise ValueError(f"config {exc}") from exc


def check_drivers(config: dict) -> None:
    """A universal potential that drives MD or labels the reference set: known model, every element covered."""
    build = config.get("reference_build") or {}
    drivers = [("sampling.driver", config["sampling"].get("driver"), sorted(config["sampling"].get("composition", {}))),
               ("nvt.driver", (config.get("nvt") or {}).get("driver"), teacher_elements(config)),
               ("reference_build.labeller", build.get("labeller"), config["elements"]),
               ("reference_build.sampling.driver", (build.get("sampling") or {}).get("driver"), config["elements"]),
               ("reference_build.nvt.driver", (build.get("nvt") or {}).get("driver"), config["elements"])]
    for key, spec, elements in drivers:
        if spec and spec.get("kind") in UNIVERSAL:
            try:
                check_universal(spec, elements, key)
            except TeacherError as exc:
                raise ValueError(f"config {exc}") from exc


def check_baselines(config: dict) -> None:
    """Zero-shot and fine-tuned baselines name teachers that can be scored on (and fine-tuned to) the real data."""
    for name in config["baselines"]["zero_shot"]:
        if name not in config["teachers"]:
            raise ValueError(f"config baselines.zero_shot: {name!r} is not defined under `teachers` "
                             f"(defined: {sorted(config['teachers'])}); define it there, or remove it")
        if config.get("alchemy"):
            raise ValueError("config baselines.zero_shot: with alchemy the teachers know the synthetic source element, "
                             "not the real data's; remove baselines.zero_shot")
        if config["teachers"][name]["kind"] in FITTED_KINDS:
            raise ValueError(f"config baselines.zero_shot: {name!r} is fitted to the real training pool, so it is no "
                             "zero-shot baseline (teacher_report scores it); name a teacher that is not fitted here")
        if name not in config["pretrain_teachers"]:
            try:
                check_teacher_spec(name, config["teachers"][name], config["elements"])
            except TeacherError as exc:
                raise ValueError(f"config {exc}") from exc
    for name in config["baselines"]["finetuned"]["teachers"]:
        key = "config baselines.finetuned.teachers"
        if name not in config["teachers"]:
            raise ValueError(f"{key}: {name!r} is not defined under `teachers` (defined: {sorted(config['teachers'])}); "
                             "define it there, or remove it")
        if config["teachers"][name]["kind"] != "sevennet":
            raise ValueError(f"{key}: {name!r} is of kind {config['teachers'][name]['kind']}; only sevennet teachers "
                             "can be fine-tuned here (sevenn's train_v2)")
        if config.get("alchemy"):
            raise ValueError(f"{key}: with alchemy the teachers know the synthetic source element; remove it")
        try:
            check_teacher_spec(name, config["teachers"][name], config["elements"])
        except TeacherError as exc:
            raise ValueError(f"config {exc}") from exc


def check_reference(config: dict) -> None:
    """The real data's files exist (unless the DAG builds them) and every element has its isolated atom."""
    ref = config["reference"]
    built = config.get("reference_build", {}).get("out")
    if not ref.get("load_atoms"):
        for f in ref["files"]:
            if f != built and not Path(f).is_file():
                raise ValueError(
                    f"config reference.files: {f} does not exist; give extxyz files of the real data"
                )
    missing = set(config["elements"]) - set(ref["isolated_atom_energies"])
    if missing:
        raise ValueError(
            f"config reference.isolated_atom_energies: no value for {sorted(missing)}"
        )


def check_alchemy(config: dict) -> None:
    """Transmuted species must be model elements, and nothing may start from (or be fitted to) the real data."""
    alchemy = config.get("alchemy")
    if not alchemy:
        return
    target = {alchemy["species_map"].get(s, s) for s in config["sampling"]["composition"]}
    from_real = (config.get("perturbation") or (config.get("nvt") and not config["nvt"].get("files"))
                 or (config.get("short_range") or {}).get("compressed_scales"))
    if not target <= set(config["elements"]) or from_real:
        raise ValueError(
            "config alchemy: the transmuted species must be in `elements`, and samplers that start "
            "from the real structures (perturbation, nvt without files, short_range.compressed_scales) cannot be "
            "combined with alchemy"
        )
    if any(config["teachers"][t]["kind"] in FITTED_KINDS for t in config["pretrain_teachers"]):
        raise ValueError(
            "config alchemy: a fitted teacher (gap_fit, eam_fit, ace_fit) is fitted to the real data's element; "
            "use a teacher of the synthetic source element (gap_xml, lammps, ...)"
        )


def check_model(config: dict) -> None:
    """The architecture's package must be importable. find_spec looks without importing: importing
    nequip (and torch) here would cost seconds in every snakemake call, dry runs included."""
    import importlib.util

    arch = config["model"]["architecture"]
    import_name, package = ARCHITECTURES[arch]
    try:
        reason = None if importlib.util.find_spec(import_name) else f"no module named {import_name}"
    except (ImportError, ValueError) as exc:
        reason = str(exc)
    if reason:
        raise ValueError(
            f"config model.architecture: {arch} needs the {package} package, which cannot be imported in "
            f"this environment ({reason}); pip install -r requirements.txt"
        )


def resolved_runs(config: dict) -> dict:
    """{config key of a recipe: the resolved settings of the runs it governs}."""
    runs = {"training": resolve(config, "direct"), "pretraining": resolve(config, "pretrain")}
    runs.update({f"finetune.strategies.{k}.training": resolve(config, "finetune", k)
                 for k in config["finetune"]["strategies"]})
    return runs


def check_schedules(config: dict) -> None:
    """A warm-up is a schedule of its own: it does not combine with a plateau or cosine schedule."""
    for key, settings in resolved_runs(config).items():
        t = settings["training"]
        if t.get("lr_warmup_steps") and t["lr_scheduler"] not in (False, None):
            raise ValueError(f"config {key}.lr_warmup_steps: a warm-up needs lr_scheduler: false (it is "
                             f"{t['lr_scheduler']}); drop one of the two")


def check_compiler(config: dict, env) -> None:
    """torch.compile on the CPU builds C++ kernels: without a compiler every compiled job would fail at
    its first step, minutes in, so say so before any job runs."""
    import shutil

    on = [key for key, settings in resolved_runs(config).items() if settings["training"]["compile"]]
    compiler = env.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    if on and not compiler:
        raise ValueError(
            f"config {on[0]}.compile: torch.compile needs a C++ compiler (g++, c++ or clang++ on PATH, or CXX) "
            f"and none was found; install one (apt-get install g++) or set {on[0]}.compile: false"
        )


def check_strategies(config: dict) -> None:
    """What the schema cannot say about fine-tuning strategies; each error names its key."""
    layers = config["model"]["num_layers"]
    pre_epochs = resolve(config, "pretrain")["training"]["max_epochs"]
    for name, s in config["finetune"]["strategies"].items():
        key = f"config finetune.strategies.{name}"
        if s.get("freeze_blocks", 0) > layers:
            raise ValueError(
                f"{key}.freeze_blocks: {s['freeze_blocks']} blocks to freeze, but the model has "
                f"model.num_layers={layers}; freeze at most {layers}"
            )
        if s.get("checkpoint", "best") != "best" and s["checkpoint"] > pre_epochs:
            raise ValueError(
                f"{key}.checkpoint: epoch {s['checkpoint']} is beyond pre-training's max_epochs="
                f"{pre_epochs}; choose an epoch <= {pre_epochs} or best"
            )
        if s.get("energy_only") and not resolve(config, "finetune", name)["training"]["loss"].get("energy"):
            raise ValueError(f"{key}.energy_only: the energy loss weight is 0, so nothing would be fitted")


def stability_teacher(config: dict) -> str | None:
    """The teacher whose own MD under the stability protocol (rule teacher_stability) calibrates the
    alarms (calibration: teacher) and is the RDF reference (unless rdf_reference.file); None if neither."""
    s = config["stability"]
    ref = s.get("rdf_reference") or {}
    if s.get("calibration", "teacher") != "teacher" and ref.get("file"):
        return None
    return ref.get("teacher") or (config["pretrain_teachers"] or [None])[0]


def rdf_reference_files(config: dict) -> dict[float, str]:
    """stability.rdf_reference.files as {hold temperature (K): extxyz}; YAML may give the keys as numbers or
    strings. Raises ValueError naming the key for one that is not a number."""
    files = (config["stability"].get("rdf_reference") or {}).get("files") or {}
    out = {}
    for key, path in files.items():
        try:
            out[float(key)] = path
        except ValueError:
            raise ValueError(f"config stability.rdf_reference.files: key {key!r} is not a temperature in K; "
                             "write e.g. {1000: data/carbon-gfn1-nvt-1000K.extxyz.gz}") from None
    return out


def _check_reference_file(key: str, path: str, elements) -> None:
    from ase.io import read as read_xyz

    try:  # the first frame only: this runs on every snakemake call; stability.py checks every frame
        ref_elements = set(read_xyz(path, 0).get_chemical_symbols())
    except (OSError, ValueError) as exc:
        raise ValueError(f"config {key}: {path} cannot be read ({exc})") from exc
    if not ref_elements <= set(elements):
        raise ValueError(f"config {key}: {path} holds elements {sorted(ref_elements)}, outside the study's elements "
                         f"{elements}; give a trajectory of the same system")


def check_stability(config: dict) -> None:
    """The RDF reference names a teacher or a readable trajectory of the same system; the teacher whose MD
    calibrates the alarms can run the study's cells; the MD protocol is sane."""
    ref = config["stability"].get("rdf_reference") or {}
    if ref.get("teacher") and ref["teacher"] not in config["teachers"]:
        raise ValueError(f"config stability.rdf_reference.teacher: {ref['teacher']!r} is not under `teachers`")
    if ref.get("teacher") and ref["teacher"] not in config["pretrain_teachers"]:
        raise ValueError(f"config stability.rdf_reference.teacher: {ref['teacher']!r} is not a pre-training teacher "
                         f"({config['pretrain_teachers']}); name one of them")
    if config["stability"]["enabled"] and config.get("alchemy") and stability_teacher(config):
        raise ValueError("config stability: with alchemy the teachers know only the source element, so none can run "
                         "the MD that calibrates the alarms and is the RDF reference; set stability.calibration: data "
                         "and stability.rdf_reference.file (or stability.enabled: false)")
    if ref.get("file"):
        _check_reference_file("stability.rdf_reference.file", ref["file"], config["elements"])
    temperatures = [float(t) for t in config["stability"].get("temperatures", [])]
    for temperature, path in rdf_reference_files(config).items():
        if temperature not in temperatures:
            raise ValueError(f"config stability.rdf_reference.files: {temperature:g} K is not a hold temperature "
                             f"(stability.temperatures: {config['stability'].get('temperatures')})")
        _check_reference_file(f"stability.rdf_reference.files.{temperature:g}", path, config["elements"])
    if config["stability"]["enabled"]:
        from .stability import ProtocolError, check_protocol

        try:
            check_protocol(config["stability"])
        except ProtocolError as exc:
            raise ValueError(str(exc)) from exc


def check_short_range(config: dict) -> None:
    s = config.get("short_range")
    if s and s["r_min"] >= s["r_max"]:
        raise ValueError(f"config short_range.r_min: {s['r_min']} A is not below r_max ({s['r_max']} A)")


def check_synthetic_supply(config: dict) -> None:
    """The largest N_synth (plus the synthetic validation set) must not exceed what the sources can make."""
    most = [max_synthetic(config["sampling"]), max_perturbed(config.get("perturbation")), max_nvt(config.get("nvt")),
            max_short_range(config.get("short_range"), len(teacher_elements(config)))]
    if None not in most and max(config["n_synth"]) + config["n_val_synth"] > sum(most):
        raise ValueError(
            f"config n_synth: {max(config['n_synth'])} (+ n_val_synth={config['n_val_synth']}) is more "
            f"than the {sum(most)} structures the synthetic sources can make (sampling {most[0]}, perturbation "
            f"{most[1]}, nvt {most[2]}, short_range {most[3]}); enlarge sampling (densities, anneal_temperatures, "
            "repeats, protocol steps), perturbation, nvt or short_range, or lower n_synth"
        )


def max_perturbed(p: dict | None) -> int | None:
    """Perturbed structures at most (None: bounded only by the real pool's size, unknown before it is read)."""
    if not p:
        return 0
    if not p.get("max_sources"):
        return None
    return p["max_sources"] * p.get("rounds", 1) * len(p["displacements"])


def max_nvt(n: dict | None) -> int | None:
    """NVT snapshots at most (None when the runs start from the real pool, whose size is not known yet)."""
    if not n:
        return 0
    if not n.get("files") or not all(Path(f).is_file() for f in n["files"]):
        return None  # a missing start file is reported as the missing input of its rule
    from ase.io import iread

    starts = sum(1 for f in n["files"] for _ in iread(f, ":"))
    if n.get("max_sources"):
        starts = min(starts, n["max_sources"])
    return starts * len(n["temperatures"]) * n.get("repeats", 1) * (n["steps"] // n.get("snapshot_every", 100))


def max_synthetic(s: dict) -> int:
    """Snapshots the sampling grid yields if no frame is dropped."""
    if not s.get("enabled", True):
        return 0
    per_traj = sum(
        st.steps // s["snapshot_every"]
        for st in mqa_stages(s["protocol"], 1.0)
        if st.record
    )
    n_traj = len(s["densities"]) * len(s["anneal_temperatures"]) * s["repeats"]
    return n_traj * per_traj


def check_cluster_resources(config: dict, rule_names) -> None:
    """A misspelt name under cluster.resources would silently get the defaults; refuse it."""
    for name in config["cluster"]["resources"]:
        if name != "default" and name not in rule_names:
            near = nearest(name, rule_names)
            hint = f" (did you mean {near}?)" if near else ""
            raise ValueError(
                f"config cluster.resources.{name}: the workflow has no step called {name}{hint}; "
                "the names are " + ", ".join(sorted(rule_names))
            )
