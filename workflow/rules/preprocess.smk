rule preprocess:
    """Raw expression + gene coordinates + Hi-C maps -> interaction CSV (raw_data_conversion)."""
    input:
        lambda w: preprocess_inputs(PREPROCESS[w.name])
    output:
        csv=f"{R}/preprocessed/{{name}}/interaction.csv",
        report=f"{R}/preprocessed/{{name}}/report.json",
    params:
        cfg=lambda w: PREPROCESS[w.name],
        tmp=lambda w: f"{R}/preprocessed/.{w.name}.tmp",
    log:
        f"{R}/logs/preprocess_{{name}}.log",
    shell:
        "rm -rf {params.tmp} && {PY} -m raw_data_conversion --config {params.cfg} --out {params.tmp} > {log} 2>&1"
        " && mv {params.tmp}/interaction_*.csv {output.csv} && mv {params.tmp}/report.json {output.report}"
        " && rm -rf {params.tmp}"
