# NequIP: pre-training on N_synth synthetic structures, fine-tuning of every pre-trained model on
# every N_real subset, strategy and seed, and the direct (no pre-training) baseline ("scratch").


rule pretrain:
    input:
        train=pretraining_file(rules.subset_synthetic.output.subset.replace("{n}", "{n_synth}")),
        val=pretraining_file(rules.merge_synthetic.output.val),
        # the real data are validated before any training job starts, whatever the teacher
        reference=rules.prepare_reference.output.summary,
    output:
        model=f"{OUT}/{{teacher}}/pretrain-{{n_synth}}/model.ckpt",
        summary=f"{OUT}/{{teacher}}/pretrain-{{n_synth}}/training.json",
        epochs=[f"{OUT}/{{teacher}}/pretrain-{{n_synth}}/after-epoch-{k}.ckpt" for k in KEEP_EPOCHS],
    params:
        script=script_path("train.py"),
        settings=lambda wc: settings_json("pretrain", config["pretrain_seed"], wc.n_synth),
        out_dir=lambda wc, output: Path(output.model).parent,
        keep=f"--keep-epochs {' '.join(map(str, KEEP_EPOCHS))}" if KEEP_EPOCHS else "",
    log:
        f"{LOGS}/pretrain/{{teacher}}/pretrain-{{n_synth}}.log",
    benchmark:
        f"{BENCH}/pretrain/{{teacher}}/pretrain-{{n_synth}}.tsv"
    priority: 30
    threads: config["threads"]["train"]
    resources:
        **job_resources("pretrain", gpu=config["gpu"]),
    conda:
        "../../envs/train.yaml"
    shell:
        "python {params.script} --settings {params.settings:q} --train {input.train} --val {input.val}"
        " {params.keep} --threads {threads} --out-dir {params.out_dir} > {log} 2>&1"


rule finetune:
    input:
        pretrained=pretrained_weights,
        train=rules.subset_real.output.subset.replace("{n}", "{n_real}"),
        val=rules.prepare_reference.output.val,
        # a replay strategy trains on the pre-training set's first structures too
        replay=lambda wc: replayed_structures(wc, rules.subset_synthetic.output.subset),
    output:
        model=f"{OUT}/{{teacher}}/pretrain-{{n_synth}}/finetune-{{n_real}}/{{strategy}}/seed-{{seed}}/model.ckpt",
        summary=f"{OUT}/{{teacher}}/pretrain-{{n_synth}}/finetune-{{n_real}}/{{strategy}}/seed-{{seed}}/training.json",
    params:
        script=script_path("train.py"),
        settings=lambda wc: settings_json("finetune", wc.seed, wc.n_real, wc.strategy),
        out_dir=lambda wc, output: Path(output.model).parent,
        replay=lambda wc, input: f"--replay {shlex.quote(input.replay)}" if input.replay else "",
    log:
        f"{LOGS}/finetune/{{teacher}}/pretrain-{{n_synth}}/finetune-{{n_real}}/{{strategy}}/seed-{{seed}}.log",
    benchmark:
        f"{BENCH}/finetune/{{teacher}}/pretrain-{{n_synth}}/finetune-{{n_real}}/{{strategy}}/seed-{{seed}}.tsv"
    threads: config["threads"]["train"]
    resources:
        **job_resources("finetune", gpu=config["gpu"]),
    conda:
        "../../envs/train.yaml"
    shell:
        "python {params.script} --settings {params.settings:q} --train {input.train} --val {input.val}"
        " --pretrained {input.pretrained} {params.replay} --threads {threads} --out-dir {params.out_dir} > {log} 2>&1"


rule direct:
    input:
        train=rules.subset_real.output.subset.replace("{n}", "{n_real}"),
        val=rules.prepare_reference.output.val,
    output:
        model=f"{OUT}/direct/pretrain-0/finetune-{{n_real}}/scratch/seed-{{seed}}/model.ckpt",
        summary=f"{OUT}/direct/pretrain-0/finetune-{{n_real}}/scratch/seed-{{seed}}/training.json",
    params:
        script=script_path("train.py"),
        settings=lambda wc: settings_json("direct", wc.seed, wc.n_real),
        out_dir=lambda wc, output: Path(output.model).parent,
    log:
        f"{LOGS}/direct/finetune-{{n_real}}/scratch/seed-{{seed}}.log",
    benchmark:
        f"{BENCH}/direct/finetune-{{n_real}}/scratch/seed-{{seed}}.tsv"
    threads: config["threads"]["train"]
    resources:
        **job_resources("direct", gpu=config["gpu"]),
    conda:
        "../../envs/train.yaml"
    shell:
        "python {params.script} --settings {params.settings:q} --train {input.train} --val {input.val}"
        " --threads {threads} --out-dir {params.out_dir} > {log} 2>&1"


rule universal_finetune:
    # the baseline a user with a foundation model would train: a sevennet teacher fine-tuned on the same N_real
    # structures (config baselines.finetuned), scored on the real test set
    input:
        teacher=f"{OUT}/teachers/{{universal}}/teacher.json",
        train=rules.subset_real.output.subset.replace("{n}", "{n_real}"),
        val=rules.prepare_reference.output.val,
        test=rules.prepare_reference.output.test,
    output:
        metrics=f"{OUT}/universal-ft/pretrain-0/finetune-{{n_real}}/{{universal}}/seed-{{seed}}/metrics.json",
        summary=f"{OUT}/universal-ft/pretrain-0/finetune-{{n_real}}/{{universal}}/seed-{{seed}}/training.json",
        model=f"{OUT}/universal-ft/pretrain-0/finetune-{{n_real}}/{{universal}}/seed-{{seed}}/checkpoint_best.pth",
    params:
        script=script_path("universal_finetune.py"),
        settings=json.dumps({k: v for k, v in config["baselines"]["finetuned"].items() if k != "teachers"}),
        md_speed=json.dumps(config["md_speed"]),
        info=json.dumps({"study": STUDY}),
        out_dir=lambda wc, output: Path(output.metrics).parent,
    log:
        f"{LOGS}/universal_finetune/{{universal}}/finetune-{{n_real}}/seed-{{seed}}.log",
    benchmark:
        f"{BENCH}/universal_finetune/{{universal}}/finetune-{{n_real}}/seed-{{seed}}.tsv"
    threads: config["threads"]["train"]
    resources:
        **job_resources("universal_finetune", gpu=config["gpu"]),
    conda:
        lambda wc: conda_env_of(config["teachers"][wc.universal])
    shell:
        "python {params.script} --teacher @{input.teacher} --train {input.train} --val {input.val} --test {input.test}"
        " --settings {params.settings:q} --seed {wildcards.seed} --md-speed {params.md_speed:q}"
        " --run-info {params.info:q} --threads {threads} --out-dir {params.out_dir} > {log} 2>&1"
