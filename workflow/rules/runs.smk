rule embeddings:
    """Graphs + causal temporal Node2Vec embeddings into the content-addressed cache."""
    input:
        data=lambda w: dataset_csv(w.dataset),
        cfg=lambda w: DATASETS[w.dataset]["config"],
    output:
        f"{R}/embeddings/{{dataset}}/seed{{seed}}.json",
    params:
        script=lambda w: DATASETS[w.dataset]["embed"],
    # fitting processes (bit-identical for any number). One by default: a rule declaring 2+ cores
    # waits for them, and on a 2-core machine a long 1-core ablation then leaves the other core idle
    threads: config.get("embedding_threads", 1)
    log:
        f"{R}/logs/embeddings_{{dataset}}_seed{{seed}}.log",
    shell:
        "{PY} {params.script} --config {input.cfg} --data {input.data} --seed {wildcards.seed}"
        " --processes {threads} --summary {output} > {log} 2>&1"


rule run:
    """One train/test job (model vs baselines, rolling origin) for one dataset and seed."""
    input:
        data=lambda w: dataset_csv(w.dataset),
        cfg=lambda w: DATASETS[w.dataset]["config"],
        emb=f"{R}/embeddings/{{dataset}}/seed{{seed}}.json",
    output:
        metrics=f"{R}/runs/{{dataset}}/seed{{seed}}/metrics.json",
        predictions=f"{R}/runs/{{dataset}}/seed{{seed}}/predictions.csv",
    params:
        job=lambda w: DATASETS[w.dataset]["job"],
        run_dir=f"{R}/runs/{{dataset}}/seed{{seed}}",
        protocol=config["protocol"],
    threads: lambda w: torch_threads(w.dataset)
    log:
        f"{R}/logs/run_{{dataset}}_seed{{seed}}.log",
    shell:
        "{PY} -m {params.job} --config {input.cfg} --data {input.data} --seed {wildcards.seed} --seeds 1"
        " --protocol {params.protocol} --no-analysis --run-dir {params.run_dir} > {log} 2>&1"


rule analysis:
    """Predictability + offline gene-set enrichment of one finished run."""
    input:
        metrics=f"{R}/runs/{{dataset}}/seed{{seed}}/metrics.json",
        cfg=lambda w: DATASETS[w.dataset]["config"],
    output:
        f"{R}/analysis/{{dataset}}/seed{{seed}}.done",
    params:
        run_dir=f"{R}/runs/{{dataset}}/seed{{seed}}",
    log:
        f"{R}/logs/analysis_{{dataset}}_seed{{seed}}.log",
    shell:
        "{PY} -m step.analyze {params.run_dir} --config {input.cfg} > {log} 2>&1 && touch {output}"


rule ablation:
    """Does Hi-C help? Variants x seeds with paired verdicts."""
    input:
        data=lambda w: dataset_csv(w.dataset),
        cfg=lambda w: DATASETS[w.dataset]["config"],
    output:
        f"{R}/ablation/{{dataset}}/verdict.json",
    params:
        run_dir=f"{R}/ablation/{{dataset}}",
        seeds=config["ablation_seeds"],
        jobs=config["ablation_jobs"],
        protocol=config["protocol"],
    threads: config["ablation_jobs"]
    log:
        f"{R}/logs/ablation_{{dataset}}.log",
    shell:
        "{PY} -m step.ablate --config {input.cfg} --data {input.data} --seeds {params.seeds}"
        " --protocol {params.protocol} --jobs {params.jobs} --run-dir {params.run_dir} > {log} 2>&1"
