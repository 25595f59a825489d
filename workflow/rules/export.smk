# Models people can use: every final model packaged (self-contained .nequip.zip), and optionally
# compiled (AOTInductor .nequip.pt2); each export is checked against its checkpoint.


rule package:
    input:
        model=f"{MODEL}/model.ckpt",
        test=rules.prepare_reference.output.test,
    output:
        package=f"{MODEL}/model.nequip.zip",
        report=f"{MODEL}/model.nequip.zip.json",
    params:
        script=script_path("export_model.py"),
    log:
        f"{LOGS}/package/{MODEL_KEY}.log",
    benchmark:
        f"{BENCH}/package/{MODEL_KEY}.tsv"
    threads: 1
    resources:
        **job_resources("package"),
    conda:
        "../../envs/train.yaml"
    shell:
        "python {params.script} --model {input.model} --package {output.package} --check {input.test}"
        " --report {output.report} --threads {threads} > {log} 2>&1"


rule compile:
    input:
        package=rules.package.output.package,
        test=rules.prepare_reference.output.test,
    output:
        compiled=f"{MODEL}/model.nequip.pt2",
        report=f"{MODEL}/model.nequip.pt2.json",
    params:
        script=script_path("export_model.py"),
        device=config["export"]["device"],
    log:
        f"{LOGS}/compile/{MODEL_KEY}.log",
    benchmark:
        f"{BENCH}/compile/{MODEL_KEY}.tsv"
    threads: 1
    resources:
        **job_resources("compile", gpu=config["export"]["device"] == "cuda"),
    conda:
        "../../envs/train.yaml"
    shell:
        "python {params.script} --model {input.package} --compile {output.compiled} --check {input.test}"
        " --report {output.report} --device {params.device} --threads {threads} > {log} 2>&1"

