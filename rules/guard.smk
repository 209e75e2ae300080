# Finished results are not replaced because a setting changed, unless the user says so
# (issues 10 and 21; docs/running.md). Included last: it reads the params of every rule.
#
# Snakemake reruns a job whose params differ from those it recorded when the job finished
# (.snakemake/metadata), and deletes the job's outputs first: a trained model, Table 2's
# attacks, an attack suite, a heat map or an external model's analysis would be lost if the
# new job failed, and replaced silently if it did not. Before any job, this compares the
# params each expensive job would get now with those recorded for its finished output (and,
# for a training run, with its run.json), and refuses to start when a setting changed,
# naming the config keys. Changes of code or of the raw data files are not settings: they
# rerun what they affect, as designed (hfc/provenance.py).
import re

from snakemake.iocontainers import Namedlist, Wildcards

# Where each recorded key of a training run comes from in the config.
_RECORD_KEYS = {
    "spec.model": "training.model / studies.architecture",
    "spec.optimizer": "training.optimizer / studies.optimizer",
    "spec.lr": "training.lr / training.lr_by_optimizer",
    "spec.batch_size": "training.batch_size / studies.batch_size",
    "spec.epochs": "training.epochs / training.shuffled_epochs",
    "settings.rescale": "frequency.rescale",
    "settings.radii": "frequency.radii",
    "settings.evaluation": "evaluation",
    "settings.threads": "threads",
    "settings": "training",
    "dataset.imagenette_size": "dataset.imagenette_size",
    "dataset.subset_seed": "dataset.subset_seed",
    "dataset": "dataset",
}
# Where the params of the other guarded rules come from: "rule:param" (or "*:param" for
# every rule), the longest match wins and the rest of the key is appended.
_PARAM_KEYS = {
    "*:device": "device",
    "*:rescale": "frequency.rescale",
    "*:precision": "training.precision",
    "*:radii": "frequency.radii",
    "*:seeds": "seeds",
    "*:runs": "studies.adversarial",
    "*:label": "studies",
    "train:spec": "training / studies",
    "attack_eval:settings": "robustness",
    "attack_suite:settings": "robustness.suite",
    "attack_suite:rhos": "robustness.rhos",
    "frequency_response:settings": "response",
    "frequency_response:same_images": "response.test_size / response.seed",
    "figure2:radius": "robustness.figure2_radius",
    "figure2:batch_size": "robustness.batch_size",
    "svd_control:radius": "robustness.figure2_radius",
    "svd_control:rank": "robustness.svd_rank",
    "svd_control:batch_size": "robustness.batch_size",
    "run_analysis:settings.fourier_heatmap": "analysis.fourier_heatmap",
    "run_analysis:settings.response": "response",
    "run_analysis:settings.robustness": "robustness",
    "external_analysis:settings.fourier_heatmap": "analysis.fourier_heatmap",
    "external_analysis:settings.response": "response",
    "external_analysis:settings.robustness": "robustness",
    "external_analysis:spec": "external_models",
    "external_data:spec": "external_models",
    "detection_infer:settings": "detection",
    "prepare_dataset:root": "dataset.root",
    "prepare_dataset:download": "dataset.download",
    "prepare_dataset:image_size": "dataset.image_size",
    "prepare_dataset:imagenette_size": "dataset.imagenette_size",
    "prepare_dataset:planted": "dataset.planted",
    "subset_dataset:train_size": "dataset.train_size",
    "subset_dataset:test_size": "dataset.test_size",
    "subset_dataset:seed": "dataset.subset_seed",
}


def _config_key(rule_name, key):
    """The config key(s) a recorded key comes from, e.g. train's spec.lr -> training.lr."""
    if rule_name == "train":
        for prefix, where in _RECORD_KEYS.items():
            if key == prefix or key.startswith(f"{prefix}."):
                rest = key[len(prefix) :]
                return (
                    f"{where}{rest}"
                    if where in ("training", "evaluation", "dataset")
                    else where
                )
    matches = [
        (len(pattern.split(":", 1)[1]), pattern)
        for pattern in _PARAM_KEYS
        if pattern.split(":")[0] in ("*", rule_name)
        and (
            key == pattern.split(":", 1)[1]
            or key.startswith(pattern.split(":", 1)[1] + ".")
        )
    ]
    if not matches:
        return key
    pattern = max(matches)[1]
    where = _PARAM_KEYS[pattern]
    rest = key[len(pattern.split(":", 1)[1]) :]
    return where if " / " in where else f"{where}{rest}"


def _expected_params(rule_name, path):
    """{name: value} of the params the job making ``path`` would get with this config."""
    job_rule = workflow.get_rule(rule_name)
    wildcards = Wildcards(fromdict=job_rule.get_wildcards(path))
    params, _ = job_rule.expand_params(wildcards, Namedlist(), Namedlist(), None)
    return dict(params.items())


def _metadata_changes(rule_name, path):
    """Settings changed since ``path`` was made, by Snakemake's record; None: no record."""
    recorded = provenance.recorded_params(provenance.snakemake_record(path))
    if recorded is None:
        return None
    return provenance.params_changes(recorded, _expected_params(rule_name, path))


def _guarded_jobs():
    """{output: (rule, data it derives from)} of every expensive job this config asks for."""
    jobs = {}

    def add(rule_name, paths, data="dataset"):
        for path in paths:
            jobs.setdefault(path, (rule_name, data))

    add(
        "train",
        [f"{RUN_DIR.format(run=r, seed=s)}/model.pt" for r in RUNS for s in SEEDS],
    )
    add("attack_eval", ATTACK_TABLES)
    add("attack_suite", SUITE_TABLES if SUITE_ON else [])
    for study in analysis_study_runs("attacks"):
        add("attack_suite", analysis_files("attacks", study))
    for kind in ("fourier_heatmap", "figure2_count"):
        for study in analysis_study_runs(kind):
            add("run_analysis", analysis_files(kind, study))
    if RESPONSE["enabled"] and RESPONSE_STUDIES:
        add("frequency_response", expand(RESPONSE_FILES, run=RESPONSE_RUNS, seed=SEEDS))
    if ROBUSTNESS_RUNS:
        add("figure2", ["results/tables/figure2_count.csv"])
        add("svd_control", ["results/tables/svd_control.csv"])
    for name, spec in EXTERNAL.items():
        outputs = [f"results/external/{name}/{kind}.csv" for kind in spec.analyses]
        add("external_analysis", outputs, f"external:{name}")
    if DETECTION["enabled"]:
        add("detection_infer", ["results/detection/images.csv"], None)
    return jobs


def _data_jobs():
    """{data: [(rule, output)]}: the jobs whose rerun would rerun everything made from it."""
    dataset = [
        ("prepare_dataset", f"{DATA}/canonical.pt"),
        ("subset_dataset", f"{DATA}/subset.pt"),
    ]
    data = {"dataset": dataset}
    for name, spec in EXTERNAL.items():
        own = [("external_data", f"results/external/{name}/test_data.pt")]
        data[f"external:{name}"] = own + ([] if spec.own_dataset else dataset)
    return data


def _read_run_record(path):
    """(record, problem): the run's record, or None and what is wrong with the file."""
    if not path.is_file():
        return None, "is missing"
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, "cannot be read as JSON"
    if not isinstance(recorded, dict) or not {"spec", "settings", "dataset"} <= set(
        recorded
    ):
        shown = json.dumps(recorded)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return None, f"holds {shown}, not a run record (spec, settings, dataset)"
    return recorded, None


def _write_run_record(path, record):
    """As workflow_scripts/train.py writes it."""
    text = json.dumps(record, indent=1, sort_keys=True, default=str) + "\n"
    path.write_text(text)


def _run_changes(run, seed, model):
    """Changes of a finished training run's settings, or None when they cannot be known.

    Its run.json is read first; where it is missing or unreadable, Snakemake's record of the
    model. A missing record makes Snakemake retrain the run even with unchanged settings, so
    when Snakemake's record shows the same settings the run.json is written again (with what
    train.py would write) and the run is kept.
    """
    folder = Path(RUN_DIR.format(run=run, seed=seed))
    record_file = folder / "run.json"
    current = run_record(run)
    recorded, problem = _read_run_record(record_file)
    from_metadata = _metadata_changes("train", str(model))
    if recorded is not None:
        changes = provenance.changed_keys(recorded, current)
        # settings not in run.json (device) by Snakemake's record
        changes += [
            c
            for c in from_metadata or []
            if c[0].split(".")[0] not in ("spec", "settings", "dataset")
        ]
        return changes, None
    if from_metadata is None:
        return None, f"{record_file} {problem} and Snakemake has no record of {model}"
    if not from_metadata:
        _write_run_record(record_file, current)
        print(
            f"{record_file} {problem}; Snakemake's record of {model} shows this config's "
            "settings, so it was written again and the finished run is kept",
            file=sys.stderr,
        )
    return from_metadata, None


def guard_finished_results():
    """Refuse to start when finished results here would be replaced because a setting changed.

    The user keeps them by giving this config its own folder, or says they may go with
    ``replace_results``.
    """
    if config.get("replace_results") or workflow.exec_mode != ExecMode.DEFAULT:
        return  # the main process decided already; jobs on a cluster node do not decide again
    changed = {}  # (setting, old, new) -> finished outputs
    unknown = []
    guarded = _guarded_jobs()
    existing = {path: job for path, job in guarded.items() if Path(path).is_file()}
    for path, (rule_name, _) in existing.items():
        if rule_name == "train":
            run, seed = re.fullmatch(
                r"results/runs/(.+)/seed(\d+)/model.pt", path
            ).groups()
            changes, problem = _run_changes(run, seed, path)
            if problem:
                unknown.append(problem)
                continue
        else:
            changes = _metadata_changes(rule_name, path) or []
        for key, old, new in changes:
            where = _config_key(rule_name, key)
            name = where if where == key else f"{where} ({key})"
            changed.setdefault((name, repr(old), repr(new)), []).append(path)
    for data, jobs in _data_jobs().items():
        downstream = [path for path, job in existing.items() if job[1] == data]
        if not downstream:
            continue
        for rule_name, output in jobs:
            if not Path(output).is_file():
                continue
            for key, old, new in _metadata_changes(rule_name, output) or []:
                where = _config_key(rule_name, key)
                name = where if where == key else f"{where} ({rule_name} {key})"
                changed.setdefault((name, repr(old), repr(new)), []).extend(downstream)
    if not (changed or unknown):
        return
    lines = []
    for (name, old, new), paths in sorted(changed.items()):
        paths = list(dict.fromkeys(paths))
        shown = ", ".join(paths[:3]) + (
            f", ... ({len(paths)} results)" if len(paths) > 3 else ""
        )
        lines.append(f"  - {name}: {old} -> {new} in {shown}")
    parts = []
    if lines:
        parts.append(
            f"finished results in {Path.cwd() / 'results'} were made with other settings, and "
            "rerunning would delete them before the new jobs finish:"
        )
        parts += lines
    if unknown:
        parts.append(
            "cannot tell with which settings these finished runs were made, so rerunning might "
            "replace them:"
        )
        parts += [f"  - {problem}" for problem in unknown]
        parts.append("Put the run.json back (e.g. from a backup) if you have it.")
    parts.append(
        "Keep them: run this config in its own folder (snakemake --directory "
        "runs/<name> --configfile <your config>), or set the settings back. Or replace "
        "them: add --config replace_results=true (Snakemake then reruns only what changed). "
        "See docs/running.md."
    )
    raise WorkflowError("\n".join(parts))


guard_finished_results()
