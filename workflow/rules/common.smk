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
from synpre import validate
from synpre.recipe import resolve
from synpre.stability import temperature_tag
from synpre.teachers import FITTED_KINDS, UNIVERSAL
STUDY = config["study"]
OUT = f"results/{STUDY}"
LOGS = f"{OUT}/logs"
BENCH = f"{OUT}/benchmarks"
TEACHERS = list(config["pretrain_teachers"])
# teachers scored as they are on the real test set (rule zero_shot), and every teacher that gets a teacher.json
ZERO_SHOT = list(config["baselines"]["zero_shot"])
# universal potentials fine-tuned on the N_real structures (rule universal_finetune)
FINETUNED = list(config["baselines"]["finetuned"]["teachers"])
TEACHER_JOBS = TEACHERS + [t for t in ZERO_SHOT + FINETUNED if t not in TEACHERS]
# one final model (fine-tuned, or direct with source=direct); its logs and benchmarks use MODEL_KEY
MODEL_KEY = "{source}/pretrain-{n_synth}/finetune-{n_real}/{strategy}/seed-{seed}"
MODEL = f"{OUT}/{MODEL_KEY}"

STRATEGIES = config["finetune"]["strategies"]
# pre-training epochs whose weights some strategy fine-tunes from (besides the best epoch)
KEEP_EPOCHS = sorted({s["checkpoint"] for s in STRATEGIES.values() if s.get("checkpoint", "best") != "best"})


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


def script_path(name):
    """The script's path relative to the working directory: moving the checkout reruns nothing."""
    return os.path.relpath(SCRIPTS / name)


def conda_env_of(spec):
    """The conda env of a job that runs a teacher, labeller or MD driver: the universal potentials (sevennet,
    chgnet) live in envs/universal.yaml, every other kind in envs/teacher.yaml."""
    return "../../envs/universal.yaml" if (spec or {}).get("kind") in UNIVERSAL else "../../envs/teacher.yaml"


def teacher_env(wildcards):
    """conda env of a job with a {teacher} wildcard (rules teacher, teacher_report, ...)."""
    return conda_env_of(config["teachers"][wildcards.teacher])


def teacher_elements():
    """Elements the teachers must cover: the real data's, or with alchemy the synthetic source's."""
    return validate.teacher_elements(config)


# cross-field checks the JSON schema cannot express (synpre.validate); they fail before any job runs
validate.check_study(config)


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
    """Label shard k: MD trajectories k, k+K, ..., and part k of perturbation, nvt and short_range."""
    n_shards = config["labelling"]["n_shards"]
    frames = shard_trajectories("synthetic", wildcards.k, n_shards)
    if config.get("perturbation"):
        frames.append(f"{OUT}/synthetic/perturbed/part-{wildcards.k}.xyz")
    if config.get("nvt"):
        frames.append(f"{OUT}/synthetic/nvt/part-{wildcards.k}.xyz")
    if "short_range" in config:
        frames.append(f"{OUT}/synthetic/short_range/part-{wildcards.k}.xyz")
    return frames


def labeller(wildcards):
    """teacher.json of the teacher that labels a campaign."""
    if wildcards.campaign == "reference-build":
        return rules.reference_labeller.output.teacher
    return rules.teacher.output.teacher.format(teacher=wildcards.campaign)


def labeller_env(wildcards):
    """conda env of a label job: that of the campaign's labeller (conda_env_of)."""
    if wildcards.campaign == "reference-build":
        return conda_env_of(config["reference_build"]["labeller"])
    return conda_env_of(config["teachers"][wildcards.campaign])


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
    """The --settings of one training run: its whole recipe, resolved by synpre.recipe, and its seed."""
    return json.dumps(dict(resolve(config, stage, strategy, n_train), seed=int(seed)))


def pretrained_weights(wildcards):
    """The pre-trained checkpoint a strategy starts from: the best epoch, or the one it names."""
    epoch = STRATEGIES[wildcards.strategy].get("checkpoint", "best")
    name = "model.ckpt" if epoch == "best" else f"after-epoch-{epoch}.ckpt"
    return f"{OUT}/{wildcards.teacher}/pretrain-{wildcards.n_synth}/{name}"


def replayed_structures(wildcards, subset):
    """The pre-training set whose first structures a replay strategy mixes into fine-tuning; none for the
    other strategies."""
    if "replay" not in STRATEGIES[wildcards.strategy]:
        return []
    return subset.replace("{teacher}", wildcards.teacher).replace("{n}", wildcards.n_synth)


def forgetting_runs():
    """forgetting.json of every pre-trained and fine-tuned model, if a strategy replays synthetic data: their
    errors on the synthetic held-out set, before and after fine-tuning."""
    if not any("replay" in s for s in STRATEGIES.values()):
        return []
    pre = expand(f"{OUT}/{{teacher}}/pretrain-{{n_synth}}/forgetting.json", teacher=TEACHERS, n_synth=config["n_synth"])
    return pre + [m.replace("metrics.json", "forgetting.json") for m in all_metrics() if "/direct/" not in m]


def tuned_keys(tuned):
    """The experiment keys in a forgetting job's model path below pretrain-<N_synth>/ ('' for the pre-trained
    model itself: n_real 0, strategy pretrained)."""
    if not tuned:
        return {"n_real": 0, "strategy": "pretrained", "seed": int(config["pretrain_seed"])}
    finetune, strategy, seed = Path(tuned).parts
    return {"n_real": int(finetune.split("-")[1]), "strategy": strategy, "seed": int(seed.split("-")[1])}


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


STABILITY = config["stability"]
# hold temperatures as they appear in file names (stability-<T>K.json) and the temperature wildcard
TEMPERATURES = [temperature_tag(t) for t in STABILITY["temperatures"]]
# the stability MD runs the compiled model (.nequip.pt2, only on export.device) or the package
STABILITY_COMPILED = config["export"]["compile"] if STABILITY["compiled"] is None else STABILITY["compiled"]
# the teacher whose own MD (teacher_stability) calibrates the alarms and is the RDF reference; None if neither
STABILITY_TEACHER = validate.stability_teacher(config)
RDF_REFERENCE_FILES = validate.rdf_reference_files(config)  # {hold temperature: reference MD}


def stability_runs(in_all=False, name="stability"):
    """<name>-<T>K.json (stability, or rdf) beside every final model, one per hold temperature, if the
    config asks for stability MD (with ``in_all``: only if it is part of the default target ``all``)."""
    if not STABILITY["enabled"] or (in_all and not STABILITY["in_all"]):
        return []
    return [m.replace("metrics.json", f"{name}-{t}K.json") for m in all_metrics() for t in TEMPERATURES]


def teacher_stability_runs():
    """The calibrating teacher's stability-<T>K.json per hold temperature (none without such a teacher)."""
    if not STABILITY["enabled"] or STABILITY_TEACHER is None:
        return []
    return [f"{OUT}/teachers/{STABILITY_TEACHER}/stability-{t}K.json" for t in TEMPERATURES]


def md_speed_runs():
    """md_speed.json beside every final model, if the config asks for MD speed (md_speed.steps > 0)."""
    if not config["md_speed"]["steps"]:
        return []
    return [m.replace("metrics.json", "md_speed.json") for m in all_metrics()]


def finetuned_metrics():
    """metrics.json of every fine-tuned universal baseline, per teacher, N_real and seed."""
    return expand(f"{OUT}/universal-ft/pretrain-0/finetune-{{n_real}}/{{universal}}/seed-{{seed}}/metrics.json",
                  universal=FINETUNED, n_real=config["n_real"], seed=config["seeds"])


def zero_shot_metrics(teacher):
    """metrics.json of a zero-shot baseline, one per N_real (all from one zero_shot job)."""
    return [f"{OUT}/zero-shot/pretrain-0/finetune-{n}/{teacher}/seed-0/metrics.json" for n in config["n_real"]]


def stability_calibration(wildcards):
    """The teacher's MD at the same hold temperature, whose extremes calibrate a model's alarms."""
    if STABILITY["calibration"] != "teacher" or STABILITY_TEACHER is None:
        return []
    return f"{OUT}/teachers/{STABILITY_TEACHER}/stability-{wildcards.temperature}K.json"


def rdf_reference(wildcards):
    """Snapshots the models' RDFs at a hold temperature are compared with: a trajectory given for that
    temperature (files), or for every temperature (file), or else the teacher's stability MD at that
    temperature; none without any."""
    ref = STABILITY.get("rdf_reference") or {}
    if float(wildcards.temperature) in RDF_REFERENCE_FILES:
        return RDF_REFERENCE_FILES[float(wildcards.temperature)]
    if ref.get("file"):
        return ref["file"]
    if STABILITY_TEACHER is None:
        return []
    return f"{OUT}/teachers/{STABILITY_TEACHER}/stability-{wildcards.temperature}K.xyz"


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
    temperature=r"[0-9]+(\.[0-9]+)?",
    teacher="|".join(re.escape(t) for t in TEACHER_JOBS) if TEACHER_JOBS else "^$",
    universal="|".join(re.escape(t) for t in ZERO_SHOT + FINETUNED) if ZERO_SHOT + FINETUNED else "^$",
    source="|".join(TEACHERS + ["direct"]),
    strategy="|".join(re.escape(s) for s in list(STRATEGIES) + ["scratch"]),


def aggregate_args(input, output):
    """Command-line arguments of scripts/aggregate.py: for the aggregate rule, and for the partial
    aggregate after failed jobs (partial_aggregate)."""
    def files(paths):
        return " ".join(shlex.quote(str(p)) for p in paths)

    if STABILITY["enabled"] and not STABILITY["in_all"]:
        stability = f" --stability-target {shlex.quote(f'{OUT}/stability.md')}"
    else:
        stability = f" --stability-summary {shlex.quote(str(input.stability))}" if input.stability else ""
    # --md-speed only where measured: the command of a study without it stays as it was (no rerun)
    md_speed = f" --md-speed {files(input.md_speed)}" if input.md_speed else ""
    forgetting = f" --forgetting {files(input.forgetting)}" if input.forgetting else ""
    pretraining = f" --pretraining {files(input.pretraining)}" if input.pretraining else ""
    return (
        f"--metrics {files(input.metrics)} --baselines {files(input.baselines)}{md_speed}{forgetting}{pretraining}"
        f" --teacher-reports {files(input.reports)} --dimer-curves {files(input.dimers)}{stability}"
        f" --title {shlex.quote(f'study {STUDY}')} --csv {output.csv} --curves {output.curves}"
        f" --figure {output.figure} --teachers-csv {output.teachers} --summary {output.summary}"
        f" --headline {output.headline} --efficiency-figure {output.efficiency} --nsynth-figure {output.nsynth}"
        f" --dimer-figure {output.dimers}"
    )


def partial_aggregate(rule):
    """Called by onerror, when jobs failed (with --keep-going, after every job that could still run):
    aggregate what exists into {OUT}/partial/, with the missing runs marked in runs.csv and summary.md, so
    a failed run is never silently left out of a table. Not into the rule's own outputs: files Snakemake
    did not write carry no metadata, and Snakemake then takes them as up to date (even with inputs
    missing), so the next run would retry none of the failed jobs. The next complete run writes {OUT}/."""
    import subprocess
    from types import SimpleNamespace

    if not any(Path(f).exists() for f in rule.input.metrics):
        return
    partial = SimpleNamespace(**{name: f"{OUT}/partial/{Path(path).name}" for name, path in rule.output.items()})
    log = Path(f"{LOGS}/aggregate-partial.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = f"{shlex.quote(sys.executable)} {SCRIPTS / 'aggregate.py'} {aggregate_args(rule.input, partial)} --allow-missing"
    with open(log, "w") as f:
        done = subprocess.run(cmd, shell=True, stdout=f, stderr=subprocess.STDOUT).returncode == 0
    missing = sum(not Path(m).exists() for m in rule.input.metrics)
    if done:
        print(f"Partial results: {OUT}/partial/runs.csv and summary.md aggregate the runs that finished; "
              f"{missing} missing runs are marked there (log: {log}). The next run retries the failed jobs and "
              f"writes the complete tables to {OUT}/.", file=sys.stderr)
    else:
        print(f"The partial aggregate failed (see {log}); run it by hand: {cmd}", file=sys.stderr)
