# Every final model: on the real test set with its dimer curves (evaluate), in MD with the RDF of its hold
# phase (stability); then one set of tables and figures (aggregate). Each model's checks run in as few jobs
# as possible: every job pays ~8 s of torch and nequip start-up.


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
    # the packaged model (or the compiled one where export.compile is on): what a user would run; the RDF
    # of its hold phase against the reference MD (rdf_reference) comes from the same job
    input:
        model=(
            f"{MODEL}/model.nequip.pt2"
            if config["export"]["compile"]
            else f"{MODEL}/model.nequip.zip"
        ),
        start=rules.prepare_reference.output.test,
        forces=rules.prepare_reference.output.train_pool,
        rdf_reference=rdf_reference(),
    output:
        result=f"{MODEL}/stability.json",
        series=f"{MODEL}/stability.csv",
        frames=f"{MODEL}/stability.xyz",
        rdf=f"{MODEL}/rdf.json",
        rdf_curve=f"{MODEL}/rdf.csv",
    params:
        script=script_path("stability.py"),
        settings=json.dumps(config["stability"]),
        info=run_info,
        # a compiled model runs only on the device it was compiled for; a package on any visible one
        device=config["export"]["device"] if config["export"]["compile"] else "auto",
    log:
        f"{LOGS}/stability/{MODEL_KEY}.log",
    benchmark:
        f"{BENCH}/stability/{MODEL_KEY}.tsv"
    threads: config["threads"]["evaluate"]
    resources:
        **job_resources("stability", gpu=config["gpu"]),
    conda:
        "../../envs/train.yaml"
    shell:
        "python {params.script} --model {input.model} --start {input.start} --forces-from {input.forces}"
        " --settings {params.settings:q} --run-info {params.info:q} --threads {threads} --device {params.device}"
        " --rdf-reference {input.rdf_reference} --series {output.series} --frames {output.frames}"
        " --rdf {output.rdf} --rdf-curve {output.rdf_curve} --out {output.result} > {log} 2>&1"


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


rule teacher_stability:
    # the reference MD for the RDF comparison: the same protocol, driven by the teacher itself
    # (no max_force alarm: the real data's force distribution says nothing about the teacher's own)
    input:
        teacher=rules.teacher.output.teacher,
        start=rules.prepare_reference.output.test,
    output:
        result=f"{OUT}/teachers/{{teacher}}/stability.json",
        series=f"{OUT}/teachers/{{teacher}}/stability.csv",
        frames=f"{OUT}/teachers/{{teacher}}/stability.xyz",
    params:
        script=script_path("stability.py"),
        settings=json.dumps(config["stability"]),
    log:
        f"{LOGS}/teacher_stability/{{teacher}}.log",
    benchmark:
        f"{BENCH}/teacher_stability/{{teacher}}.tsv"
    threads: 1
    resources:
        **job_resources("teacher_stability"),
    conda:
        "../../envs/teacher.yaml"
    shell:
        "python {params.script} --teacher @{input.teacher} --start {input.start}"
        " --settings {params.settings:q} --threads {threads} --series {output.series} --frames {output.frames}"
        " --out {output.result} > {log} 2>&1"




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
        "../../envs/teacher.yaml"
    shell:
        "python {params.script} --teacher @{input.teacher} --elements {params.elements}"
        " --run-info {params.info:q} --threads {threads} --out {output.curve} > {log} 2>&1"


rule aggregate:
    input:
        metrics=all_metrics(),
        baselines=expand(rules.constant_baseline.output.metrics, n_real=config["n_real"]),
        stability=stability_runs(),
        rdf=[f.replace("stability.json", "rdf.json") for f in stability_runs()],
        rdf_curves=[f.replace("stability.json", "rdf.csv") for f in stability_runs()],
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
        stability=report(f"{OUT}/stability.csv", category="Tables", caption="../report/stability.rst"),
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
