# Every final model: on the real test set with its dimer curves (evaluate), in MD with the RDF of its hold
# phase (stability, one job per model and hold temperature, looping the replicas); then the accuracy tables
# and figures (aggregate) and the stability statistics (stability_report, a target of its own). Each model's
# checks run in as few jobs as possible: every job pays ~8 s of torch and nequip start-up.


rule evaluate:
    # one rule for fine-tuned and direct models: the model beside metrics.json decides which
    # training rule (finetune or direct) has to run first
    input:
        model=f"{MODEL}/model.ckpt",
        training=f"{MODEL}/training.json",
        test=rules.prepare_reference.output.test,
    output:
        metrics=f"{MODEL}/metrics.json",
        predictions=f"{MODEL}/predictions.xyz",
        dimer=f"{MODEL}/dimer.csv",
        parity=report(
            f"{MODEL}/parity.png",
            category="Models",
            subcategory="{source}, N_synth {n_synth}, {strategy}",
            labels={"N_real": "{n_real}", "seed": "{seed}"},
            caption="../report/model_parity.rst",
        ),
    params:
        script=script_path("evaluate.py"),
        elements=" ".join(config["elements"]),
        info=run_info,
    log:
        f"{LOGS}/evaluate/{MODEL_KEY}.log",
    benchmark:
        f"{BENCH}/evaluate/{MODEL_KEY}.tsv"
    threads: config["threads"]["evaluate"]
    resources:
        **job_resources("evaluate"),
    conda:
        "../../envs/train.yaml"
    shell:
        "python {params.script} --model {input.model} --training {input.training} --test {input.test}"
        " --run-info {params.info:q} --elements {params.elements} --dimer-out {output.dimer}"
        " --predictions {output.predictions} --parity {output.parity} --threads {threads} --out {output.metrics}"
        " > {log} 2>&1"


rule stability:
    # the packaged model (or the compiled one, stability.compiled): what a user would run. One job
    # per hold temperature runs every replica; its alarms are calibrated on the real training cells and the
    # teacher's MD at the same temperature, and the RDF of its hold is compared with that MD in the same job
    input:
        model=f"{MODEL}/model.nequip.pt2" if STABILITY_COMPILED else f"{MODEL}/model.nequip.zip",
        start=rules.prepare_reference.output.test,
        forces=rules.prepare_reference.output.train_pool,
        calibration=stability_calibration,
        rdf_reference=rdf_reference,
    output:
        result=f"{MODEL}/stability-{{temperature}}K.json",
        series=f"{MODEL}/stability-{{temperature}}K.csv",
        frames=f"{MODEL}/stability-{{temperature}}K.xyz",
        rdf=f"{MODEL}/rdf-{{temperature}}K.json",
        rdf_curve=f"{MODEL}/rdf-{{temperature}}K.csv",
    params:
        script=script_path("stability.py"),
        settings=json.dumps(STABILITY),
        info=run_info,
        # a compiled model runs only on the device it was compiled for; a package on any visible one
        device=config["export"]["device"] if STABILITY_COMPILED else "auto",
        calibration=lambda wc, input: f"--calibration {input.calibration}" if input.calibration else "",
        rdf_reference=lambda wc, input: f"--rdf-reference {input.rdf_reference}" if input.rdf_reference else "",
    log:
        f"{LOGS}/stability/{MODEL_KEY}/{{temperature}}K.log",
    benchmark:
        f"{BENCH}/stability/{MODEL_KEY}/{{temperature}}K.tsv"
    threads: config["threads"]["evaluate"]
    resources:
        **job_resources("stability", gpu=config["gpu"]),
    conda:
        "../../envs/train.yaml"
    shell:
        "python {params.script} --model {input.model} --temperature {wildcards.temperature} --start {input.start}"
        " --forces-from {input.forces} {params.calibration} --settings {params.settings:q} --run-info {params.info:q}"
        " --threads {threads} --device {params.device} {params.rdf_reference} --rdf {output.rdf}"
        " --rdf-curve {output.rdf_curve} --series {output.series}"
        " --frames {output.frames} --out {output.result} > {log} 2>&1"


rule forgetting:
    # what fine-tuning forgets (config: a strategy with `replay`): a pre-trained model and each of its fine-tuned
    # models on the synthetic held-out set of its teacher (never trained on; it selected pre-training's best
    # epoch), energies scored with the mean per-atom offset removed (the two energy references differ)
    input:
        model=f"{OUT}/{{teacher}}/pretrain-{{n_synth}}/{{tuned}}model.ckpt",
        test=rules.merge_synthetic.output.val,
    output:
        metrics=f"{OUT}/{{teacher}}/pretrain-{{n_synth}}/{{tuned}}forgetting.json",
    params:
        script=script_path("evaluate.py"),
        info=lambda wc: json.dumps({"study": STUDY, "teacher": wc.teacher, "n_synth": int(wc.n_synth),
                                    **tuned_keys(wc.tuned), "test_set": "synthetic held-out"}),
    log:
        f"{LOGS}/forgetting/{{teacher}}/pretrain-{{n_synth}}/{{tuned}}forgetting.log",
    benchmark:
        f"{BENCH}/forgetting/{{teacher}}/pretrain-{{n_synth}}/{{tuned}}forgetting.tsv"
    wildcard_constraints:
        tuned=r"(finetune-[0-9]+/[A-Za-z0-9_.-]+/seed-[0-9]+/)?",
    threads: config["threads"]["evaluate"]
    resources:
        **job_resources("forgetting"),
    conda:
        "../../envs/train.yaml"
    shell:
        "python {params.script} --model {input.model} --test {input.test} --remove-offset"
        " --run-info {params.info:q} --threads {threads} --out {output.metrics} > {log} 2>&1"


rule constant_baseline:
    # the floor every trained model must clear: mean per-atom energy of the same N_real structures, zero forces
    input:
        train=rules.subset_real.output.subset.replace("{n}", "{n_real}"),
        test=rules.prepare_reference.output.test,
    output:
        metrics=f"{OUT}/constant/pretrain-0/finetune-{{n_real}}/mean/seed-0/metrics.json",
    params:
        script=script_path("constant_baseline.py"),
        info=lambda wc: json.dumps({"study": STUDY, "n_real": int(wc.n_real)}),
    log:
        f"{LOGS}/constant_baseline/finetune-{{n_real}}.log",
    benchmark:
        f"{BENCH}/constant_baseline/finetune-{{n_real}}.tsv"
    threads: 1
    resources:
        **job_resources("constant_baseline"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python {params.script} --train {input.train} --test {input.test} --run-info {params.info:q}"
        " --out {output.metrics} > {log} 2>&1"


rule md_speed:
    # the MD cost of a final model (config md_speed): the model form stability runs, from the first test cell
    input:
        model=rules.stability.input.model,
        start=rules.prepare_reference.output.test,
    output:
        result=f"{MODEL}/md_speed.json",
    params:
        script=script_path("md_speed.py"),
        settings=json.dumps(config["md_speed"]),
        info=run_info,
        device=rules.stability.params.device,
    log:
        f"{LOGS}/md_speed/{MODEL_KEY}.log",
    benchmark:
        f"{BENCH}/md_speed/{MODEL_KEY}.tsv"
    threads: config["threads"]["evaluate"]
    resources:
        **job_resources("md_speed", gpu=config["gpu"]),
    conda:
        "../../envs/train.yaml"
    shell:
        "python {params.script} --model {input.model} --start {input.start} --settings {params.settings:q}"
        " --run-info {params.info:q} --threads {threads} --device {params.device} --out {output.result} > {log} 2>&1"


rule zero_shot:
    # a teacher (a universal potential) as it is on the real test set, beside the trained models: one job per
    # teacher writes the row of every N_real (the N_real structures only fix its energy offset)
    input:
        teacher=f"{OUT}/teachers/{{universal}}/teacher.json",
        train=expand(rules.subset_real.output.subset, n=config["n_real"]),
        test=rules.prepare_reference.output.test,
    output:
        metrics=zero_shot_metrics("{universal}"),
        predictions=f"{OUT}/zero-shot/{{universal}}/predictions.xyz",
    params:
        script=script_path("zero_shot.py"),
        md_speed=json.dumps(config["md_speed"]),
        info=json.dumps({"study": STUDY}),
    log:
        f"{LOGS}/zero_shot/{{universal}}.log",
    benchmark:
        f"{BENCH}/zero_shot/{{universal}}.tsv"
    threads: config["threads"]["evaluate"]
    resources:
        **job_resources("zero_shot"),
    conda:
        lambda wc: conda_env_of(config["teachers"][wc.universal])
    shell:
        "python {params.script} --teacher @{input.teacher} --test {input.test} --train {input.train}"
        " --md-speed {params.md_speed:q} --run-info {params.info:q} --threads {threads}"
        " --predictions {output.predictions} --out {output.metrics} > {log} 2>&1"


rule teacher_stability:
    # the teacher's own MD under the same protocol: it calibrates the models' alarms (only non_finite stops
    # it) and is the reference MD of their RDFs; one job per hold temperature
    input:
        teacher=rules.teacher.output.teacher,
        start=rules.prepare_reference.output.test,
        forces=rules.prepare_reference.output.train_pool,
    output:
        result=f"{OUT}/teachers/{{teacher}}/stability-{{temperature}}K.json",
        series=f"{OUT}/teachers/{{teacher}}/stability-{{temperature}}K.csv",
        frames=f"{OUT}/teachers/{{teacher}}/stability-{{temperature}}K.xyz",
    params:
        script=script_path("stability.py"),
        settings=json.dumps(STABILITY),
        info=lambda wc: json.dumps({"study": STUDY, "teacher": f"teacher {wc.teacher}"}),
    log:
        f"{LOGS}/teacher_stability/{{teacher}}/{{temperature}}K.log",
    benchmark:
        f"{BENCH}/teacher_stability/{{teacher}}/{{temperature}}K.tsv"
    threads: 1
    resources:
        **job_resources("teacher_stability"),
    conda:
        teacher_env
    shell:
        "python {params.script} --teacher @{input.teacher} --calibrate --temperature {wildcards.temperature}"
        " --start {input.start} --forces-from {input.forces} --settings {params.settings:q} --run-info {params.info:q}"
        " --threads {threads} --series {output.series} --frames {output.frames} --out {output.result} > {log} 2>&1"


rule teacher_dimer:
    input:
        teacher=rules.teacher.output.teacher,
    output:
        curve=f"{OUT}/teachers/{{teacher}}/dimer.csv",
    params:
        script=script_path("dimer.py"),
        elements=" ".join(teacher_elements()),
        info=lambda wc: json.dumps({"study": STUDY, "teacher": f"teacher {wc.teacher}"}),
    log:
        f"{LOGS}/teacher_dimer/{{teacher}}.log",
    benchmark:
        f"{BENCH}/teacher_dimer/{{teacher}}.tsv"
    threads: 1
    resources:
        **job_resources("teacher_dimer"),
    conda:
        teacher_env
    shell:
        "python {params.script} --teacher @{input.teacher} --elements {params.elements}"
        " --run-info {params.info:q} --threads {threads} --out {output.curve} > {log} 2>&1"


rule aggregate:
    input:
        metrics=all_metrics(),
        baselines=expand(rules.constant_baseline.output.metrics, n_real=config["n_real"])
        + [m for t in ZERO_SHOT for m in zero_shot_metrics(t)]
        + finetuned_metrics(),
        md_speed=md_speed_runs(),
        forgetting=forgetting_runs(),
        pretraining=expand(rules.pretrain.output.summary, teacher=TEACHERS, n_synth=config["n_synth"]),
        # the stability statistics join summary.md when stability is part of `all` (stability.in_all)
        stability=f"{OUT}/stability.md" if stability_runs(in_all=True) else [],
        dimers=[m.replace("metrics.json", "dimer.csv") for m in all_metrics()]
        + ([] if config.get("alchemy") else expand(rules.teacher_dimer.output.curve, teacher=TEACHERS)),
        # a teacher of the alchemical source element cannot be scored on the target element's data
        reports=(
            expand(rules.teacher_report.output.report, teacher=TEACHERS)
            if not config.get("alchemy")
            else []
        ),
    output:
        csv=report(f"{OUT}/runs.csv", category="Tables", caption="../report/runs.rst"),
        curves=report(f"{OUT}/curves.csv", category="Tables", caption="../report/curves.rst"),
        figure=report(
            f"{OUT}/learning_curves.png",
            category="Learning curves",
            caption="../report/learning_curves.rst",
        ),
        headline=report(f"{OUT}/headline.csv", category="Tables", caption="../report/headline.rst"),
        efficiency=report(
            f"{OUT}/data_efficiency.png",
            category="Learning curves",
            caption="../report/data_efficiency.rst",
        ),
        nsynth=report(
            f"{OUT}/nsynth_trend.png",
            category="Learning curves",
            caption="../report/nsynth_trend.rst",
        ),
        teachers=report(f"{OUT}/teachers.csv", category="Tables", caption="../report/teachers.rst"),
        dimers=report(
            f"{OUT}/dimer_curves.png",
            category="Short range",
            caption="../report/dimer_curves.rst",
        ),
        summary=f"{OUT}/summary.md",
    params:
        script=script_path("aggregate.py"),
        args=lambda wc, input, output: aggregate_args(input, output),
    log:
        f"{LOGS}/aggregate.log",
    benchmark:
        f"{BENCH}/aggregate.tsv"
    threads: 1
    resources:
        **job_resources("aggregate"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python {params.script} {params.args} > {log} 2>&1"


rule stability_report:
    # MD stability alone: every final model's stability MD (training whatever model is missing, rerunning
    # nothing that exists) and its statistics; `snakemake --cores 2 stability_report`. Part of `all` unless
    # stability.in_all is false
    input:
        stability=stability_runs(),
        rdf=stability_runs(name="rdf"),
        teachers=teacher_stability_runs(),
    output:
        csv=report(f"{OUT}/stability.csv", category="Tables", caption="../report/stability.rst"),
        survival_csv=report(f"{OUT}/survival.csv", category="Tables", caption="../report/survival_table.rst"),
        survival=report(
            f"{OUT}/survival.png",
            category="Stability",
            caption="../report/survival.rst",
        ),
        rdf=report(
            f"{OUT}/rdf.png",
            category="Stability",
            caption="../report/rdf.rst",
        ),
        summary=f"{OUT}/stability.md",
    params:
        script=script_path("stability_report.py"),
        files=lambda wc, input: " ".join(
            f"--{name} {' '.join(shlex.quote(f) for f in input[name])}"
            for name in ("stability", "rdf", "teachers")
            if input[name]
        ),
        enabled="" if STABILITY["enabled"] else "--disabled",
    log:
        f"{LOGS}/stability_report.log",
    benchmark:
        f"{BENCH}/stability_report.tsv"
    threads: 1
    resources:
        **job_resources("stability_report"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python {params.script} {params.files} {params.enabled} --csv {output.csv} --survival-csv {output.survival_csv}"
        " --survival {output.survival} --rdf-figure {output.rdf} --summary {output.summary} > {log} 2>&1"
