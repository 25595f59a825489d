# Synthetic structures: one melt-quench-anneal MD job per (density, anneal T, repeat) grid point.
# The same rule also makes the trajectories of reference_build.


rule sample:
    output:
        traj="results/{campaign}/md/traj-{i}.xyz",
    params:
        script=script_path("sample_md.py"),
        settings=sampling_settings,
        point=trajectory_args,
    log:
        "results/{campaign}/logs/sample/traj-{i}.log",
    benchmark:
        "results/{campaign}/benchmarks/sample/traj-{i}.tsv"
    wildcard_constraints:
        campaign="|".join(SAMPLING),
    priority: 20
    threads: 1
    resources:
        **job_resources("sample"),
    conda:
        "../../envs/teacher.yaml"
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


rule nvt_sample:
    input:
        start=(config.get("nvt") or {}).get("files") or [rules.prepare_reference.output.train_pool],
    output:
        part=f"{OUT}/synthetic/nvt/part-{{k}}.xyz",
    params:
        script=script_path("nvt_md.py"),
        settings=json.dumps(config.get("nvt") or {}),
        parts=config["labelling"]["n_shards"],
        seed=(config.get("nvt") or {}).get("seed", 0),
    log:
        f"{LOGS}/nvt_sample/part-{{k}}.log",
    benchmark:
        f"{BENCH}/nvt_sample/part-{{k}}.tsv"
    priority: 20
    threads: 1
    resources:
        **job_resources("nvt_sample"),
    conda:
        "../../envs/teacher.yaml"
    shell:
        "python {params.script} --inputs {input.start} --settings {params.settings:q} --part {wildcards.k}"
        " --parts {params.parts} --seed {params.seed} --threads {threads} --out {output.part} > {log} 2>&1"
