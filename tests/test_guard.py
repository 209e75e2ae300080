"""The pieces of the finished-results guard (rules/guard.smk) and the machine check (issue 21)."""

import base64
import json

from hfc import provenance, resources


def _record(tmp_path, output, params, version=6):
    b64 = base64.urlsafe_b64encode(output.encode()).decode()
    folder = tmp_path / ".snakemake/metadata"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / b64).write_text(json.dumps({"record_format_version": version, "params": params}))


def test_snakemakes_record_of_an_output_is_read_and_old_formats_are_ignored(tmp_path):
    _record(tmp_path, "results/a.csv", ["'cpu'", "{'eps': [0.03]}"])
    record = provenance.snakemake_record("results/a.csv", tmp_path)
    assert provenance.recorded_params(record) == ["'cpu'", "{'eps': [0.03]}"]
    assert provenance.snakemake_record("results/other.csv", tmp_path) is None
    _record(tmp_path, "results/old.csv", ["'cpu'"], version=5)  # Snakemake ignores these too
    assert provenance.recorded_params(provenance.snakemake_record("results/old.csv", tmp_path)) is None


def test_changed_settings_are_named_by_key_and_code_changes_are_not_settings():
    old = sorted(["'0123456789abcdef'", "{'eps': [0.03, 0.09], 'rhos': [0.0, 1.0]}", "'cpu'", "'natural'"])
    current = {"code": "fedcba9876543210", "settings": {"eps": [0.03, 0.1], "rhos": [0.0, 1.0]},
               "device": "cpu", "label": "natural"}  # fmt: skip
    assert provenance.params_changes(old, current) == [("settings.eps", [0.03, 0.09], [0.03, 0.1])]
    current["settings"]["eps"] = [0.03, 0.09]
    assert provenance.params_changes(old, current) == []  # only the code fingerprint differs
    current["device"] = "cuda:0"
    assert provenance.params_changes(old, current) == [("device", "cpu", "cuda:0")]


def test_a_reordered_dict_is_a_change_snakemake_sees_and_is_said_so():
    old = [repr({"a": 1, "b": 2})]
    assert provenance.params_changes(old, {"settings": {"b": 2, "a": 1}}) == [
        ("settings", "(key order)", "(key order)")
    ]


def test_a_param_no_longer_given_is_named():
    changes = provenance.params_changes(["'x'", "5"], {"label": "x"})
    assert changes == [("(a setting no longer given)", 5, "(absent)")]


def test_cuda_absent_is_an_error_here_and_a_warning_for_a_cluster_or_dry_run():
    errors, warnings = resources.machine_problems(1, "cuda:0", cores=4, cuda_devices=0, here=True)
    assert len(errors) == 1 and not warnings
    assert "device: 'cuda:0', but CUDA is not available here" in errors[0] and "use device: auto" in errors[0]
    errors, warnings = resources.machine_problems(1, "cuda", cores=4, cuda_devices=0, here=False)
    assert not errors and "fine if the jobs run on GPU nodes" in warnings[0]
    errors, _ = resources.machine_problems(1, "cuda:2", cores=4, cuda_devices=1, here=True)
    assert "has 1 CUDA device(s) (cuda:0 to cuda:0)" in errors[0]
    assert resources.machine_problems(1, "cuda:0", cores=4, cuda_devices=1, here=True) == ([], [])
    assert resources.machine_problems(4, "auto", cores=4, cuda_devices=0, here=True) == ([], [])


def test_threads_above_the_cores_warn_and_far_above_are_refused_here():
    errors, warnings = resources.machine_problems(3, "cpu", cores=2, cuda_devices=0, here=True)
    assert not errors and "threads: 3, but this machine has 2 CPU core(s)" in warnings[0]
    errors, warnings = resources.machine_problems(64, "cpu", cores=2, cuda_devices=0, here=True)
    assert not warnings and "use threads: 2 (or fewer)" in errors[0]
    errors, warnings = resources.machine_problems(64, "cpu", cores=2, cuda_devices=0, here=False)
    assert not errors and "nodes with more cores" in warnings[0]


def test_a_value_set_where_there_was_none_is_paired_with_it():
    """Snakemake records two None params as two 'None' strings: one of them is the old value."""
    old = ["'0123456789abcdef'", "0", "None", "None"]
    changes = provenance.params_changes(old, {"code": "x" * 16, "train_size": None, "test_size": 30, "seed": 0})
    assert changes == [("test_size", None, 30)]
