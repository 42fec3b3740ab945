rule summary:
    """Every run and ablation in one study report (results/summary/index.md)."""
    input:
        runs=expand(f"{R}/runs/{{dataset}}/seed{{seed}}/metrics.json",
                    dataset=list(DATASETS), seed=config["seeds"]),
        analysis=expand(f"{R}/analysis/{{dataset}}/seed{{seed}}.done",
                        dataset=list(DATASETS), seed=config["seeds"][:1]),
        ablations=expand(f"{R}/ablation/{{dataset}}/verdict.json", dataset=list(DATASETS)),
    output:
        f"{config['summary']}/index.md",
    params:
        runs=[f"{R}/runs/{d}" for d in DATASETS],
        ablations=[f"{R}/ablation/{d}" for d in DATASETS],
        out=config["summary"],
    log:
        f"{R}/logs/summary.log",
    shell:
        "{PY} -m step.summary --runs {params.runs} --ablations {params.ablations} --out {params.out} > {log} 2>&1"
