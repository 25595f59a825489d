# The real ("DFT") data: validated, referenced to isolated atoms, split; nested N_real subsets.
# reference_build (not part of `all`) remakes the shipped GFN1-xTB carbon set from scratch: the campaign
# reference-build of the rules sample, nvt and label, labelled by reference_labeller, assembled here.


rule prepare_reference:
    input:
        config["reference"]["files"] if not config["reference"].get("load_atoms") else [],
    output:
        train_pool=f"{OUT}/reference/train_pool.xyz",
        teacher_pool=f"{OUT}/reference/teacher_pool.xyz",
        val=f"{OUT}/reference/val.xyz",
        test=f"{OUT}/reference/test.xyz",
        summary=f"{OUT}/reference/summary.json",
    params:
        script=script_path("prepare_reference.py"),
        settings=json.dumps(config["reference"]),
        elements=" ".join(config["elements"]),
        out_dir=lambda wc, output: Path(output.summary).parent,
    log:
        f"{LOGS}/prepare_reference.log",
    benchmark:
        f"{BENCH}/prepare_reference.tsv"
    priority: 60  # everything waits for it; the GAP fit on the critical path next
    threads: 1
    resources:
        **job_resources("prepare_reference"),
    conda:
        "../../envs/data.yaml"
    shell:
        "python {params.script} --settings {params.settings:q} --elements {params.elements}"
        " --out-dir {params.out_dir} > {log} 2>&1"


rule subset_real:
    input:
        pool=rules.prepare_reference.output.train_pool,
    output:
        subset=f"{OUT}/reference/train-{{n}}.xyz",
    params:
        script=script_path("subset.py"),
    log:
        f"{LOGS}/subset_real/train-{{n}}.log",
    benchmark:
        f"{BENCH}/subset_real/train-{{n}}.tsv"
    # right after the preparation: an N_real larger than the pool stops the study before any MD or fit.
    # (Not a check in prepare_reference: a parameter there would rerun the whole study whenever the
    # largest N_real changes, as config/sweep.yaml's does.)
    priority: 55
    threads: 1
    resources:
        **job_resources("subset_real"),
    conda:
        "../../envs/data.yaml"
    shell:
        "python {params.script} --pool {input.pool} --n {wildcards.n} --what n_real"
        " --out {output.subset} > {log} 2>&1"


if "reference_build" in config:

    rule reference_labeller:
        output:
            teacher=f"{OUT}/reference-build/labeller.json",
        params:
            script=script_path("teacher.py"),
            spec=json.dumps(config["reference_build"]["labeller"]),
            elements=" ".join(config["elements"]),
        log:
            f"{LOGS}/reference_labeller.log",
        benchmark:
            f"{BENCH}/reference_labeller.tsv"
        threads: 1
        resources:
            **job_resources("reference_labeller"),
        conda:
            conda_env_of(config["reference_build"]["labeller"])
        shell:
            "python {params.script} --name reference --spec {params.spec:q} --elements {params.elements}"
            " --out {output.teacher} > {log} 2>&1"


    rule reference_crystals:
        output:
            crystals=f"{OUT}/reference-build/md/crystals.xyz",
        params:
            script=script_path("crystals.py"),
            settings=json.dumps(config["reference_build"]["crystals"]),
            seed=config["reference_build"].get("sampling", {}).get("seed", 0),
        log:
            f"{LOGS}/reference_crystals.log",
        benchmark:
            f"{BENCH}/reference_crystals.tsv"
        threads: 1
        resources:
            **job_resources("reference_crystals"),
        conda:
            "../../envs/data.yaml"
        shell:
            "python {params.script} --settings {params.settings:q} --seed {params.seed}"
            " --out {output.crystals} > {log} 2>&1"


    rule reference_build:
        input:
            teacher=rules.reference_labeller.output.teacher,
            shards=expand(
                f"{OUT}/reference-build/labels/shard-{{k}}.xyz",
                k=range(config["reference_build"]["n_shards"]),
            ),
        output:
            data=config["reference_build"]["out"],
        params:
            script=script_path("assemble_reference.py"),
            test_every=config["reference_build"]["test_every"],
        log:
            f"{LOGS}/reference_build.log",
        benchmark:
            f"{BENCH}/reference_build.tsv"
        threads: 1
        resources:
            **job_resources("reference_build"),
        conda:
            "../../envs/data.yaml"
        shell:
            "python {params.script} --inputs {input.shards} --teacher @{input.teacher}"
            " --test-every {params.test_every} --out {output.data} > {log} 2>&1"
