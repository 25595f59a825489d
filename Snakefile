# Synthetic pre-training for NequIP interatomic potentials (Gardner, Baker & Deringer, MLST 2024).
#
# teacher MD sampling -> teacher labels (shards) -> NequIP pre-training over N_synth
#   -> fine-tuning on N_real real structures (and direct training) -> evaluation -> aggregation
#   -> every final model packaged (and optionally compiled) for use in ASE / LAMMPS
#
# Run:  snakemake --cores 2                      (config/config.yaml, the embedded default study)
#       snakemake --cores 2 --configfile config/quick.yaml
import sys

from snakemake.utils import min_version

min_version("9.0")


# A study config is complete by itself: with --configfile the default is not merged underneath it.
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"



sys.path.insert(0, f"{workflow.basedir}/scripts")
from synpre.configcheck import check_config, drop_disabled, fill_defaults, load_schema

# one line naming the key (snakemake's validate prints the whole schema), then the schema's defaults
SCHEMA = load_schema(f"{workflow.basedir}/workflow/schemas/config.schema.yaml")
_SOURCES = [str(f) for f in workflow.config_settings.configfiles] or ["config/config.yaml"]
if workflow.config_settings.config:
    # snakemake reads `--config k=[1,2]` as strings; a list belongs in an overlay file
    _SOURCES.append("--config " + " ".join(f"{k}={v!r}" for k, v in workflow.config_settings.config.items()))
check_config(config, SCHEMA, " + ".join(_SOURCES))
fill_defaults(config, SCHEMA)
drop_disabled(config)  # e.g. the strict study switches the default's perturbation off


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/teacher.smk"
include: "workflow/rules/sampling.smk"
include: "workflow/rules/labelling.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/export.smk"


validate.check_cluster_resources(config, {r.name for r in workflow.rules})


rule all:
    default_target: True
    input:
        rules.aggregate.output,
        exported_models(),
        # stability MD and its statistics, unless stability.in_all: false (then: target stability_report)
        rules.stability_report.output if stability_runs(in_all=True) else [],


onerror:
    # failed jobs: tables and figures of every run that finished, the missing ones marked
    partial_aggregate(rules.aggregate)
