# Teachers: fit (GAP, EAM or ACE on the real training pool) or load (a GAP XML, .yace, eam/alloy ...), and measure their
# isolated atoms; everything downstream reads the resulting teacher.json.


rule teacher:
    input:
        fit_data=lambda wc: (
            rules.prepare_reference.output.teacher_pool
            if config["teachers"][wc.teacher]["kind"] in FITTED_KINDS
            else []
        ),
        xml=lambda wc: config["teachers"][wc.teacher].get("path", []),
    output:
        teacher=f"{OUT}/teachers/{{teacher}}/teacher.json",
    params:
        script=script_path("teacher.py"),
        spec=lambda wc: json.dumps(config["teachers"][wc.teacher]),
        elements=" ".join(teacher_elements()),
        e0=json.dumps(config["reference"]["isolated_atom_energies"]),
        fit=lambda wc, input: f"--fit-data {input.fit_data}" if input.fit_data else "",
    log:
        f"{LOGS}/teacher/{{teacher}}.log",
    benchmark:
        f"{BENCH}/teacher/{{teacher}}.tsv"
    priority: 50
    threads: 1
    resources:
        **job_resources("teacher"),
    conda:
        teacher_env
    shell:
        "python {params.script} --name {wildcards.teacher} --spec {params.spec:q}"
        " --elements {params.elements} {params.fit} --fit-e0 {params.e0:q} --threads {threads}"
        " --out {output.teacher} > {log} 2>&1"


rule teacher_report:
    input:
        teacher=rules.teacher.output.teacher,
        test=rules.prepare_reference.output.test,
    output:
        report=f"{OUT}/teachers/{{teacher}}/report.json",
        parity=report(
            f"{OUT}/teachers/{{teacher}}/parity.png",
            category="Teachers",
            caption="../report/teacher_parity.rst",
        ),
        predictions=f"{OUT}/teachers/{{teacher}}/test_predictions.xyz",
    params:
        script=script_path("teacher_report.py"),
    log:
        f"{LOGS}/teacher_report/{{teacher}}.log",
    benchmark:
        f"{BENCH}/teacher_report/{{teacher}}.tsv"
    threads: 1
    resources:
        **job_resources("teacher_report"),
    conda:
        teacher_env
    shell:
        "python {params.script} --teacher @{input.teacher} --test {input.test} --threads {threads}"
        " --parity {output.parity} --predictions {output.predictions} --out {output.report} > {log} 2>&1"
