# Unlabelled structures of the two campaigns, each in {OUT}/<campaign>/: the synthetic set ("synthetic"),
# and with reference_build the new reference set ("reference-build"). Melt-quench-anneal MD makes one job
# per (density, anneal T, repeat) grid point, NVT MD one job per labelling shard; perturbation and short_range are synthetic only.


rule sample:
    output:
        traj=f"{OUT}/{{campaign}}/md/traj-{{i}}.xyz",
    params:
        script=script_path("sample_md.py"),
        settings=sampling_settings,
        point=trajectory_args,
    log:
        f"{LOGS}/sample/{{campaign}}/traj-{{i}}.log",
    benchmark:
        f"{BENCH}/sample/{{campaign}}/traj-{{i}}.tsv"
    wildcard_constraints:
        campaign="|".join(SAMPLING),
    priority: 20
    threads: 1
    resources:
        **job_resources("sample"),
    conda:
        lambda wc: conda_env_of(SAMPLING[wc.campaign]["driver"])
    shell:
        "python {params.script} --settings {params.settings:q} {params.point}"
        " --threads {threads} --out {output.traj} > {log} 2>&1"


rule perturb:
    input:
        pool=rules.prepare_reference.output.train_pool,
    output:
        part=f"{OUT}/synthetic/perturbed/part-{{k}}.xyz",
    params:
        script=script_path("perturb.py"),
        settings=json.dumps(config.get("perturbation") or {}),
        parts=config["labelling"]["n_shards"],
        seed=(config.get("perturbation") or {}).get("seed", 0),
    log:
        f"{LOGS}/perturb/part-{{k}}.log",
    benchmark:
        f"{BENCH}/perturb/part-{{k}}.tsv"
    priority: 20
    threads: 1
    resources:
        **job_resources("perturb"),
    conda:
        "../../envs/data.yaml"
    shell:
        "python {params.script} --inputs {input.pool} --settings {params.settings:q} --part {wildcards.k}"
        " --parts {params.parts} --seed {params.seed} --out {output.part} > {log} 2>&1"


rule short_range:
    # dimers, trimers and compressed real training cells (config short_range); part k joins label shard k
    input:
        pool=rules.prepare_reference.output.train_pool,
    output:
        part=f"{OUT}/synthetic/short_range/part-{{k}}.xyz",
    params:
        script=script_path("short_range.py"),
        settings=json.dumps(config.get("short_range") or {}),
        parts=config["labelling"]["n_shards"],
        elements=" ".join(teacher_elements()),
    log:
        f"{LOGS}/short_range/part-{{k}}.log",
    benchmark:
        f"{BENCH}/short_range/part-{{k}}.tsv"
    priority: 20
    threads: 1
    resources:
        **job_resources("short_range"),
    conda:
        "../../envs/data.yaml"
    shell:
        "python {params.script} --inputs {input.pool} --elements {params.elements} --settings {params.settings:q}"
        " --part {wildcards.k} --parts {params.parts} --out {output.part} > {log} 2>&1"


# NVT MD of each campaign that asks for it: the synthetic set's (config nvt; from the real training pool
# unless it gives files) and reference_build's (from its files, snapshots of config_type md); part k of
# each is in labelling shard k of its campaign
NVT = {
    "synthetic": {
        "start": (config.get("nvt") or {}).get("files") or [rules.prepare_reference.output.train_pool],
        "settings": json.dumps(config.get("nvt") or {}),
        "parts": config["labelling"]["n_shards"],
        "seed": (config.get("nvt") or {}).get("seed", 0),
    }
}
if "reference_build" in config:
    NVT["reference-build"] = {
        "start": config["reference_build"].get("nvt", {}).get("files", []),
        "settings": json.dumps(dict(config["reference_build"].get("nvt", {}), config_type="md")),
        "parts": config["reference_build"]["n_shards"],
        "seed": config["reference_build"].get("nvt", {}).get("seed", 0),
    }


rule nvt:
    input:
        start=lambda wc: NVT[wc.campaign]["start"],
    output:
        part=f"{OUT}/{{campaign}}/nvt/part-{{k}}.xyz",
    params:
        script=script_path("nvt_md.py"),
        settings=lambda wc: NVT[wc.campaign]["settings"],
        parts=lambda wc: NVT[wc.campaign]["parts"],
        seed=lambda wc: NVT[wc.campaign]["seed"],
    log:
        f"{LOGS}/nvt/{{campaign}}/part-{{k}}.log",
    benchmark:
        f"{BENCH}/nvt/{{campaign}}/part-{{k}}.tsv"
    wildcard_constraints:
        campaign="|".join(NVT),
    priority: 20
    threads: 1
    resources:
        **job_resources("nvt"),
    conda:
        lambda wc: conda_env_of(json.loads(NVT[wc.campaign]["settings"]).get("driver"))
    shell:
        "python {params.script} --inputs {input.start} --settings {params.settings:q} --part {wildcards.k}"
        " --parts {params.parts} --seed {params.seed} --threads {threads} --out {output.part} > {log} 2>&1"
