# Shared helpers: experiment grid, paths and per-rule settings derived from the validated config.
import itertools
import re
import os
import shlex
import sys
import json
from pathlib import Path

SCRIPTS = Path(workflow.basedir) / "scripts"
sys.path.insert(0, str(SCRIPTS))
from synpre.nequip_config import ARCHITECTURES
from synpre.sampling import mqa_stages
from synpre.teachers import FITTED_KINDS, TeacherError, check_teacher_spec
STUDY = config["study"]
OUT = f"results/{STUDY}"
LOGS = f"{OUT}/logs"
BENCH = f"{OUT}/benchmarks"
TEACHERS = list(config["pretrain_teachers"])
RESERVED = {"direct", "constant", "teachers", "reference", "synthetic", "logs", "benchmarks"}
# one final model (fine-tuned, or direct with source=direct); its logs and benchmarks use MODEL_KEY
MODEL_KEY = "{source}/pretrain-{n_synth}/finetune-{n_real}/{strategy}/seed-{seed}"
MODEL = f"{OUT}/{MODEL_KEY}"

STRATEGIES = config["finetune"]["strategies"]
# pre-training epochs whose weights some strategy fine-tunes from (besides the best epoch)
KEEP_EPOCHS = sorted({s["checkpoint"] for s in STRATEGIES.values() if s.get("checkpoint", "best") != "best"})


def train_settings(stage, strategy=None, n_train=None):
    """elements, seed, model and training settings of one run; pretraining overrides training, and a
    fine-tuning strategy overrides both its `training` keys and the fine-tuning options. With
    ``n_train`` (the run's training structures), compile_min_structures decides compile for that run."""
    training = dict(config["training"])
    if stage == "pretrain":
        training.update(config["pretraining"])
    settings = {"elements": config["elements"], "model": config["model"],
                "finetune": {"refit_shift": config["finetune"]["refit_shift"]}}
    if strategy is not None:
        recipe = STRATEGIES[strategy]
        training.update(recipe.get("training", {}))
        settings["strategy"] = dict({k: v for k, v in recipe.items() if k != "training"}, name=strategy)
    # resolved here, so the settings a job is given (and records) say whether it compiles
    min_structures = training.pop("compile_min_structures", 0)
    if n_train is not None and int(n_train) < min_structures:
        training["compile"] = False
    return dict(settings, training=training)


def check_model():
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


def check_compiler():
    """torch.compile on the CPU builds C++ kernels: without a compiler every compiled job would fail at
    its first step, minutes in, so say so before any job runs."""
    import shutil

    runs = {"training": train_settings("direct"), "pretraining": train_settings("pretrain")}
    runs.update({f"finetune.strategies.{k}.training": train_settings("finetune", k) for k in STRATEGIES})
    on = [key for key, settings in runs.items() if settings["training"].get("compile")]
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    if on and not compiler:
        raise ValueError(
            f"config {on[0]}.compile: torch.compile needs a C++ compiler (g++, c++ or clang++ on PATH, or CXX) "
            f"and none was found; install one (apt-get install g++) or set {on[0]}.compile: false"
        )


def check_strategies():
    """What the schema cannot say about fine-tuning strategies; each error names its key."""
    layers = config["model"]["num_layers"]
    pre_epochs = train_settings("pretrain")["training"]["max_epochs"]
    for name, s in STRATEGIES.items():
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
        loss = train_settings("finetune", name)["training"]["loss"]
        if s.get("energy_only") and not loss.get("energy"):
            raise ValueError(f"{key}.energy_only: the energy loss weight is 0, so nothing would be fitted")


def job_resources(rule, gpu=False):
    """What a job of ``rule`` asks a scheduler for: config cluster.resources (default, then the rule's
    own), one GPU if ``gpu``, and the partition and account of the cluster section. Local runs only
    count threads and gpu; a SLURM profile turns the rest into sbatch options."""
    c = config["cluster"]
    res = dict(c["resources"].get("default", {}), **c["resources"].get(rule, {}))
    res["gpu"] = 1 if gpu else 0
    partition = (c["gpu_partition"] if gpu else None) or c["partition"]
    if partition:
        res.setdefault("slurm_partition", partition)
    if c["account"]:
        res.setdefault("slurm_account", c["account"])
    return res


def check_cluster_resources(rule_names):
    """A misspelt name under cluster.resources would silently get the defaults; refuse it."""
    from synpre.configcheck import nearest

    for name in config["cluster"]["resources"]:
        if name != "default" and name not in rule_names:
            near = nearest(name, rule_names)
            hint = f" (did you mean {near}?)" if near else ""
            raise ValueError(
                f"config cluster.resources.{name}: the workflow has no step called {name}{hint}; "
                "the names are " + ", ".join(sorted(rule_names))
            )


def script_path(name):
    """The script's path relative to the working directory: moving the checkout reruns nothing."""
    return os.path.relpath(SCRIPTS / name)


def teacher_elements():
    """Elements the teachers must cover: the real data's, or with alchemy the synthetic source's."""
    if config.get("alchemy"):
        return sorted(config["sampling"]["composition"])
    return config["elements"]


def check_config():
    """Cross-field checks the JSON schema cannot express; they fail before any job runs."""
    for name in TEACHERS:
        if name not in config["teachers"]:
            raise ValueError(
                f"config pretrain_teachers: {name!r} is not defined under `teachers` "
                f"(defined: {sorted(config['teachers'])})"
            )
        if name in RESERVED:
            raise ValueError(f"config teachers: the name {name!r} is reserved; rename the teacher")
    spec = config["teachers"]
    for name in TEACHERS:
        try:
            check_teacher_spec(name, spec[name], teacher_elements())
        except TeacherError as exc:
            raise ValueError(f"config {exc}") from exc
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
    alchemy = config.get("alchemy")
    if alchemy:
        target = {alchemy["species_map"].get(s, s) for s in config["sampling"]["composition"]}
        from_real = config.get("perturbation") or (config.get("nvt") and not config["nvt"].get("files"))
        if not target <= set(config["elements"]) or from_real:
            raise ValueError(
                "config alchemy: the transmuted species must be in `elements`, and samplers that start "
                "from the real structures (perturbation, nvt without files) cannot be combined with alchemy"
            )
        if any(config["teachers"][t]["kind"] in FITTED_KINDS for t in TEACHERS):
            raise ValueError(
                "config alchemy: a fitted teacher (gap_fit, eam_fit, ace_fit) is fitted to the real data's element; "
                "use a teacher of the synthetic source element (gap_xml, lammps, ...)"
            )
    check_model()
    check_compiler()
    check_strategies()
    ref = config.get("stability", {}).get("rdf_reference") or {}
    if ref.get("teacher") and ref["teacher"] not in config["teachers"]:
        raise ValueError(f"config stability.rdf_reference.teacher: {ref['teacher']!r} is not under `teachers`")
    if ref.get("file"):
        from ase.io import read as read_xyz

        try:  # the first frame only: this runs on every snakemake call; stability.py checks every frame
            ref_elements = set(read_xyz(ref["file"], 0).get_chemical_symbols())
        except (OSError, ValueError) as exc:
            raise ValueError(f"config stability.rdf_reference.file: {ref['file']} cannot be read ({exc})") from exc
        if not ref_elements <= set(config["elements"]):
            raise ValueError(
                f"config stability.rdf_reference.file: {ref['file']} holds elements {sorted(ref_elements)}, "
                f"outside the study's elements {config['elements']}; give a trajectory of the same system"
            )
    if config["stability"]["enabled"]:
        from synpre.stability import ProtocolError, check_protocol

        try:
            check_protocol(config["stability"])
        except ProtocolError as exc:
            raise ValueError(str(exc)) from exc
    most = [max_synthetic(config["sampling"]), max_perturbed(config.get("perturbation")), max_nvt(config.get("nvt"))]
    if None not in most and max(config["n_synth"]) + config["n_val_synth"] > sum(most):
        raise ValueError(
            f"config n_synth: {max(config['n_synth'])} (+ n_val_synth={config['n_val_synth']}) is more "
            f"than the {sum(most)} structures the synthetic sources can make (sampling {most[0]}, perturbation "
            f"{most[1]}, nvt {most[2]}); enlarge sampling (densities, anneal_temperatures, repeats, protocol "
            "steps), perturbation or nvt, or lower n_synth"
        )


def max_perturbed(p):
    """Perturbed structures at most (None: bounded only by the real pool's size, unknown before it is read)."""
    if not p:
        return 0
    if not p.get("max_sources"):
        return None
    return p["max_sources"] * p.get("rounds", 1) * len(p["displacements"])


def max_nvt(n):
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


def max_synthetic(s):
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


check_config()


def grid(section):
    """(index, density, anneal T, seed) of every trajectory of a sampling section."""
    points = itertools.product(
        section["densities"], section["anneal_temperatures"], range(section["repeats"])
    )
    return [
        (i, d, t, section["seed"] + i) for i, (d, t, _) in enumerate(points)
    ]


# the campaigns that make structures, each in its folder {OUT}/<campaign>/: the synthetic set, and the
# reference set of reference_build
SAMPLING = {"synthetic": config["sampling"]}
if "sampling" in config.get("reference_build", {}):
    SAMPLING["reference-build"] = config["reference_build"]["sampling"]
CRYSTALS = any(
    config.get("reference_build", {}).get("crystals", {}).get(kind, 0) for kind in ("diamond", "graphite")
)


def trajectory_files(campaign):
    section = SAMPLING[campaign]
    if not section.get("enabled", True):
        return []
    return [f"{OUT}/{campaign}/md/traj-{i:04d}.xyz" for i, *_ in grid(section)]


def shard_trajectories(campaign, shard, n_shards):
    if campaign not in SAMPLING:
        return []
    return trajectory_files(campaign)[int(shard) :: int(n_shards)]


def synthetic_shard_inputs(wildcards):
    """Label shard k: MD trajectories k, k+K, ... and perturbation part k."""
    n_shards = config["labelling"]["n_shards"]
    frames = shard_trajectories("synthetic", wildcards.k, n_shards)
    if config.get("perturbation"):
        frames.append(f"{OUT}/synthetic/perturbed/part-{wildcards.k}.xyz")
    if config.get("nvt"):
        frames.append(f"{OUT}/synthetic/nvt/part-{wildcards.k}.xyz")
    return frames


def labeller(wildcards):
    """teacher.json of the teacher that labels a campaign."""
    if wildcards.campaign == "reference-build":
        return rules.reference_labeller.output.teacher
    return rules.teacher.output.teacher.format(teacher=wildcards.campaign)


def label_inputs(wildcards):
    """The structures of label shard k of a campaign: the synthetic set's (synthetic_shard_inputs), or
    reference_build's: its MD trajectories k, k+K, ..., the crystals (shard 0) and NVT part k."""
    if wildcards.campaign != "reference-build":
        return synthetic_shard_inputs(wildcards)
    build = config["reference_build"]
    frames = shard_trajectories("reference-build", wildcards.k, build["n_shards"])
    if int(wildcards.k) == 0 and CRYSTALS:
        frames.append(rules.reference_crystals.output.crystals)
    if "nvt" in build:
        frames.append(f"{OUT}/reference-build/nvt/part-{wildcards.k}.xyz")
    return frames


def sampling_settings(wildcards):
    s = SAMPLING[wildcards.campaign]
    keys = ("composition", "driver", "timestep_fs", "snapshot_every", "protocol")
    keys += ("start_min_distance", "filter_min_distance")
    return json.dumps({k: s[k] for k in keys})


def trajectory_args(wildcards):
    i, d, t, seed = grid(SAMPLING[wildcards.campaign])[int(wildcards.i)]
    return f"--density {d} --anneal-temperature {t} --seed {seed} --trajectory {i}"


def pretraining_file(xyz):
    """The file pre-training reads for a synthetic extxyz set: the set itself, or with synthetic_storage:
    lmdb its NequIP LMDB copy (rule synthetic_lmdb), read batch by batch instead of held in memory."""
    return xyz.removesuffix(".xyz") + ".lmdb" if config["synthetic_storage"] == "lmdb" else xyz


def settings_json(stage, seed, n_train, strategy=None):
    return json.dumps(dict(train_settings(stage, strategy, n_train), seed=int(seed)))


def pretrained_weights(wildcards):
    """The pre-trained checkpoint a strategy starts from: the best epoch, or the one it names."""
    epoch = STRATEGIES[wildcards.strategy].get("checkpoint", "best")
    name = "model.ckpt" if epoch == "best" else f"after-epoch-{epoch}.ckpt"
    return f"{OUT}/{wildcards.teacher}/pretrain-{wildcards.n_synth}/{name}"


def run_info(wildcards):
    """The experiment keys of one final model, recorded in every file made from it."""
    return json.dumps(
        {
            "study": STUDY,
            "teacher": wildcards.source,
            "strategy": wildcards.strategy,
            "n_synth": int(wildcards.n_synth),
            "n_real": int(wildcards.n_real),
            "seed": int(wildcards.seed),
        }
    )


def all_metrics():
    pre = expand(
        f"{MODEL}/metrics.json",
        source=TEACHERS,
        n_synth=config["n_synth"],
        n_real=config["n_real"],
        strategy=list(STRATEGIES),
        seed=config["seeds"],
    )
    direct = expand(
        f"{MODEL}/metrics.json",
        source="direct",
        n_synth=0,
        strategy="scratch",
        n_real=config["n_real"],
        seed=config["seeds"],
    )
    return pre + direct


def stability_runs():
    """stability.json beside every final model, if the config asks for stability MD."""
    if not config["stability"]["enabled"]:
        return []
    return [m.replace("metrics.json", "stability.json") for m in all_metrics()]


def rdf_reference():
    """Snapshots the models' RDFs are compared with: a teacher's stability MD or a given trajectory."""
    ref = config["stability"].get("rdf_reference") or {}
    if ref.get("file"):
        return ref["file"]
    return f"{OUT}/teachers/{ref.get('teacher', TEACHERS[0])}/stability.xyz"


def exported_models():
    """Every final model's package, and its compiled form where the config asks for it."""
    names = (["model.nequip.zip"] if config["export"]["package"] else []) + (
        ["model.nequip.pt2"] if config["export"]["compile"] else []
    )
    return [m.replace("metrics.json", name) for m in all_metrics() for name in names]


wildcard_constraints:
    n="[0-9]+",
    n_real="[0-9]+",
    n_synth="[0-9]+",
    seed="[0-9]+",
    i="[0-9]+",
    k="[0-9]+",
    teacher="|".join(TEACHERS) if TEACHERS else "^$",
    source="|".join(TEACHERS + ["direct"]),
    strategy="|".join(re.escape(s) for s in list(STRATEGIES) + ["scratch"]),


def aggregate_args(input, output):
    """Command-line arguments of scripts/aggregate.py: for the aggregate rule, and for the partial
    aggregate after failed jobs (partial_aggregate)."""
    def files(paths):
        return " ".join(shlex.quote(str(p)) for p in paths)

    return (
        f"--metrics {files(input.metrics)} --baselines {files(input.baselines)} --teacher-reports {files(input.reports)}"
        f" --stability {files(input.stability)} --rdf {files(input.rdf)} --rdf-curves {files(input.rdf_curves)}"
        f" --dimer-curves {files(input.dimers)}"
        f" --title {shlex.quote(f'study {STUDY}')} --csv {output.csv} --curves {output.curves}"
        f" --figure {output.figure} --teachers-csv {output.teachers} --summary {output.summary}"
        f" --headline {output.headline} --efficiency-figure {output.efficiency} --nsynth-figure {output.nsynth}"
        f" --rdf-figure {output.rdf}"
        f" --stability-csv {output.stability} --survival {output.survival} --dimer-figure {output.dimers}"
    )


def partial_aggregate(rule):
    """Called by onerror, when jobs failed (with --keep-going, after every job that could still run):
    aggregate what exists, with the missing runs marked in runs.csv and summary.md, so a failed run is
    never silently left out of a table. The next complete run replaces these files."""
    import subprocess

    if not any(Path(f).exists() for f in rule.input.metrics):
        return
    log = Path(f"{LOGS}/aggregate-partial.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = f"{shlex.quote(sys.executable)} {SCRIPTS / 'aggregate.py'} {aggregate_args(rule.input, rule.output)} --allow-missing"
    with open(log, "w") as f:
        done = subprocess.run(cmd, shell=True, stdout=f, stderr=subprocess.STDOUT).returncode == 0
    missing = sum(not Path(m).exists() for m in rule.input.metrics)
    if done:
        print(f"Partial results: {OUT}/runs.csv and {OUT}/summary.md aggregate the runs that finished; "
              f"{missing} missing runs are marked there (log: {log}).", file=sys.stderr)
    else:
        print(f"The partial aggregate failed (see {log}); run it by hand: {cmd}", file=sys.stderr)
