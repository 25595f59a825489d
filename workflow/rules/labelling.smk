# A teacher labels each campaign's structures in shards (separate jobs, each reruns alone): the synthetic
# set once per pre-training teacher (in {OUT}/<teacher>/), and with reference_build the new reference set
# by its labeller (in {OUT}/reference-build/). The synthetic shards are merged into one permuted pool and
# the nested N_synth subsets are cut from it; with synthetic_storage: lmdb each pre-training set is also
# streamed into a NequIP LMDB file.

# label campaigns: a pre-training teacher's name (the synthetic set it labels) or reference-build
LABEL_CAMPAIGNS = TEACHERS + (["reference-build"] if "reference_build" in config else [])


rule label:
    input:
        teacher=labeller,
        frames=label_inputs,
    output:
        shard=f"{OUT}/{{campaign}}/labels/shard-{{k}}.xyz",
    params:
        script=script_path("label.py"),
    log:
        f"{LOGS}/label/{{campaign}}/shard-{{k}}.log",
    benchmark:
        f"{BENCH}/label/{{campaign}}/shard-{{k}}.tsv"
    wildcard_constraints:
        campaign="|".join(re.escape(c) for c in LABEL_CAMPAIGNS),
    priority: 40
    threads: 1
    resources:
        **job_resources("label"),
    conda:
        labeller_env
    shell:
        "python {params.script} --teacher @{input.teacher} --inputs {input.frames}"
        " --threads {threads} --out {output.shard} > {log} 2>&1"


rule merge_synthetic:
    input:
        shards=expand(
            f"{OUT}/{{{{teacher}}}}/labels/shard-{{k}}.xyz",
            k=range(config["labelling"]["n_shards"]),
        ),
    output:
        pool=f"{OUT}/{{teacher}}/synthetic_pool.xyz",
        val=f"{OUT}/{{teacher}}/synthetic_val.xyz",
    params:
        script=script_path("merge_synthetic.py"),
        n_val=config["n_val_synth"],
        seed=config["sampling"].get("seed", 0),
        alchemy=f"--alchemy {shlex.quote(json.dumps(config['alchemy']))}" if config.get("alchemy") else "",
    log:
        f"{LOGS}/merge_synthetic/{{teacher}}.log",
    benchmark:
        f"{BENCH}/merge_synthetic/{{teacher}}.tsv"
    priority: 40
    threads: 1
    resources:
        **job_resources("merge_synthetic"),
    conda:
        "../../envs/data.yaml"
    shell:
        "python {params.script} --inputs {input.shards} --n-val {params.n_val}"
        " --seed {params.seed} {params.alchemy} --pool {output.pool} --val {output.val} > {log} 2>&1"


rule subset_synthetic:
    input:
        pool=rules.merge_synthetic.output.pool,
    output:
        subset=f"{OUT}/{{teacher}}/synthetic-{{n}}.xyz",
    params:
        script=script_path("subset.py"),
    log:
        f"{LOGS}/subset_synthetic/{{teacher}}/synthetic-{{n}}.log",
    benchmark:
        f"{BENCH}/subset_synthetic/{{teacher}}/synthetic-{{n}}.tsv"
    priority: 40
    threads: 1
    resources:
        **job_resources("subset_synthetic"),
    conda:
        "../../envs/data.yaml"
    shell:
        "python {params.script} --pool {input.pool} --n {wildcards.n} --what n_synth"
        " --out {output.subset} > {log} 2>&1"


rule synthetic_lmdb:
    input:
        xyz=f"{OUT}/{{teacher}}/{{name}}.xyz",
    output:
        lmdb=f"{OUT}/{{teacher}}/{{name}}.lmdb",
    wildcard_constraints:
        name="synthetic-[0-9]+|synthetic_val",
    params:
        script=script_path("to_lmdb.py"),
    log:
        f"{LOGS}/synthetic_lmdb/{{teacher}}/{{name}}.log",
    benchmark:
        f"{BENCH}/synthetic_lmdb/{{teacher}}/{{name}}.tsv"
    priority: 40
    threads: 1
    resources:
        **job_resources("synthetic_lmdb"),
    conda:
        "../../envs/train.yaml"
    shell:
        "python {params.script} --xyz {input.xyz} --out {output.lmdb} > {log} 2>&1"
