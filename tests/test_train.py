import math

import pandas as pd
import pytest
import torch

from hfc import train
from hfc.frequency import split
from hfc.grid import RunSpec
from hfc.seeding import seed_everything

SETTINGS = {
    "dropout": 0.5,
    "mixup_alpha": 0.5,
    "adversarial": {"eps": 0.03, "steps": 3, "step_size": 0.01, "random_start": False},
    "width_by_model": {"small_cnn": 0.25},
}


def make_spec(**changes):
    spec = dict(model="small_cnn", heuristic="vanilla", optimizer="adam", lr=1e-3, batch_size=16,
                train_band="original", train_radius=0, labels="natural", epochs=3)  # fmt: skip
    spec.update(changes)
    return RunSpec(**spec)


def make_data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    # Class-dependent brightness so a model can learn something in a few steps.
    images = (torch.rand(n, 1, 28, 28, generator=g) * 0.5 + labels.view(-1, 1, 1, 1) * 0.12).clamp(0, 1)
    eval_sets = [train.EvalSet("train", "original", 0, images[:32], labels[:32]),
                 train.EvalSet("test", "original", 0, images[32:64], labels[32:64])]  # fmt: skip
    low, high = split(images[32:64], 4)
    eval_sets += [train.EvalSet("test", "low", 4, low, labels[32:64]), train.EvalSet("test", "high", 4, high, labels[32:64])]
    return train.TrainingData("toy", images, labels, 4, 1, 28, [0.3], [0.3], eval_sets)


def run(spec, data, **kw):
    return train.train_run("toy", spec, data, seed=7, settings=SETTINGS, progress=False, log=lambda m: None, **kw)


def test_metrics_are_tidy_and_complete():
    _, metrics = run(make_spec(epochs=2), make_data())
    assert list(metrics.columns) == train.METRIC_COLUMNS
    assert len(metrics) == 2 * 4  # epochs × eval sets
    assert set(metrics["epoch"]) == {1, 2}
    assert metrics["accuracy"].between(0, 1).all() and (metrics["n"] == 32).all()
    assert set(zip(metrics.split, metrics.band, metrics.radius)) == {
        ("train", "original", 0), ("test", "original", 0), ("test", "low", 4), ("test", "high", 4)}  # fmt: skip


def test_training_learns_the_toy_task():
    _, metrics = run(make_spec(epochs=4), make_data())
    final = metrics[(metrics.epoch == 4) & (metrics.split == "train")]
    assert float(final.accuracy.iloc[0]) > 0.5  # chance is 0.25


def test_same_seed_same_metrics():
    data = make_data()
    _, a = run(make_spec(heuristic="dropout"), data)
    _, b = run(make_spec(heuristic="dropout"), data)
    pd.testing.assert_frame_equal(a, b)


def test_different_seed_different_metrics():
    data = make_data()
    _, a = run(make_spec(), data)
    _, b = train.train_run("toy", make_spec(), data, seed=8, settings=SETTINGS, progress=False, log=lambda m: None)
    assert not a["loss"].equals(b["loss"])


@pytest.mark.parametrize("heuristic", ["vanilla", "dropout", "mixup"])
def test_resume_after_interruption_gives_the_same_numbers(tmp_path, heuristic):
    data = make_data()
    spec = make_spec(heuristic=heuristic)
    model_a, uninterrupted = run(spec, data)
    checkpoint = tmp_path / "checkpoint.pt"
    _, partial = run(spec, data, checkpoint_path=str(checkpoint), stop_after_epoch=1)
    assert partial.epoch.max() == 1 and checkpoint.exists()
    messages = []
    model_b, resumed = train.train_run("toy", spec, data, seed=7, settings=SETTINGS, progress=False,
                                       log=messages.append, checkpoint_path=str(checkpoint))  # fmt: skip
    assert any("resuming" in m for m in messages)
    pd.testing.assert_frame_equal(uninterrupted, resumed)
    for (name, a), (_, b) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        assert torch.equal(a, b), name


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    data = make_data()
    checkpoint = tmp_path / "checkpoint.pt"
    run(make_spec(), data, checkpoint_path=str(checkpoint), stop_after_epoch=1)
    messages = []
    train.train_run("toy", make_spec(lr=5e-4), data, seed=7, settings=SETTINGS, progress=False,
                    log=messages.append, checkpoint_path=str(checkpoint))  # fmt: skip
    assert any("other settings" in m for m in messages)


def test_nan_loss_stops_with_clear_error_and_keeps_checkpoint(tmp_path):
    data = make_data()
    checkpoint = tmp_path / "checkpoint.pt"
    run(make_spec(epochs=2), data, checkpoint_path=str(checkpoint), stop_after_epoch=1)
    saved = torch.load(checkpoint, weights_only=False)
    poisoned = train.TrainingData(**{**data.__dict__, "images": data.images.clone()})
    poisoned.images[5] = float("nan")
    with pytest.raises(train.TrainingDiverged, match="diverged in epoch 2.*learning rate"):
        train.train_run("toy", make_spec(epochs=2), poisoned, seed=7, settings=SETTINGS, progress=False,
                        log=lambda m: None, checkpoint_path=str(checkpoint))  # fmt: skip
    # The last good epoch's checkpoint is untouched.
    assert torch.load(checkpoint, weights_only=False)["epoch"] == saved["epoch"] == 1


def test_mixup_targets_are_convex_combinations():
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    images = torch.rand(10, 1, 8, 8)
    labels = torch.arange(10) % 3
    mixed, targets = train.mixup_batch(images, labels, 0.5, 3, g)
    # Replay the same draws: one lam ~ Beta(0.5, 0.5) per batch, partners from a permutation.
    g.set_state(state)
    lam = train._beta_sample(0.5, g)
    perm = torch.randperm(10, generator=g)
    assert 0 < lam < 1
    one_hot = torch.nn.functional.one_hot(labels, 3).float()
    torch.testing.assert_close(mixed, lam * images + (1 - lam) * images[perm])
    torch.testing.assert_close(targets, lam * one_hot + (1 - lam) * one_hot[perm])
    assert torch.allclose(targets.sum(1), torch.ones(10)) and (targets >= 0).all()
    assert not torch.equal(perm, torch.arange(10))


def test_adversarial_batches_stay_within_eps_and_range(monkeypatch):
    from hfc import attacks

    seen = []
    original = attacks.pgd

    def spy(model, images, labels, **kw):
        adv = original(model, images, labels, **kw)
        seen.append((images, adv, model.training))
        return adv

    monkeypatch.setattr(attacks, "pgd", spy)
    run(make_spec(heuristic="adversarial", epochs=1), make_data())
    assert seen
    for clean, adv, training in seen:
        assert float((adv - clean).abs().max()) <= 0.03 + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1
        assert not torch.equal(adv, clean)
        assert training  # the model is back in training mode for the update


def test_batchnorm_and_dropout_heuristics_build_their_models():
    data = make_data()
    bn = train.model_build_kwargs(make_spec(heuristic="batchnorm"), data, SETTINGS)
    dropout = train.model_build_kwargs(make_spec(heuristic="dropout"), data, SETTINGS)
    assert bn["batchnorm"] is True and dropout["dropout"] == 0.5
    assert bn["width"] == 0.25


def test_shuffled_labels_are_a_fixed_permutation():
    labels = torch.arange(100) % 10
    a, b = train.shuffled_labels(labels, 0), train.shuffled_labels(labels, 0)
    assert torch.equal(a, b) and not torch.equal(a, labels)
    assert torch.equal(torch.bincount(a), torch.bincount(labels))


def test_unknown_optimizer_and_heuristic_list_known_names():
    with pytest.raises(ValueError, match="sgd, adam, adagrad, adadelta, rmsprop"):
        train.build_optimizer("lbfgs", [torch.zeros(1, requires_grad=True)], 0.1)
    with pytest.raises(ValueError, match="known heuristics"):
        run(make_spec(heuristic="cutout"), make_data())


def test_save_and_load_model_round_trip(tmp_path):
    data = make_data()
    spec = make_spec(epochs=1)
    model, _ = run(spec, data)
    path = tmp_path / "model.pt"
    train.save_model(model, str(path), spec.model, train.model_build_kwargs(spec, data, SETTINGS))
    loaded = train.load_model(str(path))
    x = data.images[:8]
    model.eval()
    assert torch.equal(model(x), loaded(x))


def test_every_optimizer_trains():
    for name in train.OPTIMIZERS:
        lr = {"sgd": 0.05, "adadelta": 1.0, "adagrad": 0.05}.get(name, 1e-3)
        _, metrics = run(make_spec(optimizer=name, lr=lr, epochs=1), make_data())
        assert math.isfinite(metrics.loss.iloc[0])


def test_bf16_and_channels_last_train_close_to_fp32():
    data = make_data()
    _, fp32 = run(make_spec(epochs=2), data)
    fast = dict(SETTINGS, precision="bf16", channels_last=True)
    _, bf16 = train.train_run("toy", make_spec(epochs=2), data, seed=7, settings=fast, progress=False, log=lambda m: None)
    assert not fp32["loss"].equals(bf16["loss"])  # autocast really ran in bf16
    assert (fp32["accuracy"] - bf16["accuracy"]).abs().max() <= 0.2
    with pytest.raises(ValueError, match="precision"):
        train.autocast(torch.device("cpu"), "fp16")
