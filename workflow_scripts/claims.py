"""Rule claims: every registered claim of the paper measured per seed, with interval and verdict."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc import claims, data  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    p = snakemake.params
    files = dict(snakemake.input.items())
    subset = data.load_canonical(files["subset"])
    sources = {}
    frames = {}
    for kind in claims.INPUT_KINDS:
        if kind not in files:
            continue
        paths = [files[kind]] if isinstance(files[kind], str) else list(files[kind])
        frames[kind] = pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
        sources[kind] = paths
    inputs = claims.ClaimInputs(
        studies=p.studies,
        num_classes=len(subset["classes"]),
        scale=claims.Scale(train_images=len(subset["train_labels"]), epochs=int(p.epochs)),
        sources=sources,
        planted=p.planted,
        **frames,
    )
    table = claims.evaluate_claims(inputs, min_seeds=p.min_seeds, expected=p.expected)
    table.to_csv(snakemake.output.csv, index=False)
    Path(snakemake.output.md).write_text(claims.claims_markdown(table, p.caption))
    counts = table["verdict"].value_counts().to_dict()
    log(f"{len(table)} claims at {inputs.scale}: {counts}")
    for row in table.itertuples(index=False):
        log(f"{row.id}: {row.verdict} (mean {row.mean:.4f}, n={row.n_seeds}) {row.reason}")
