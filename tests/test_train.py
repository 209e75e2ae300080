import math

import pandas as pd
import pytest
import torch

from hfc import data as hfc_data
from hfc import train
from hfc.frequency import split, split_reference_numpy
from hfc.grid import RunSpec

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
    saved = torch.load(checkpoint, weights_only=True)
    poisoned = train.TrainingData(**{**data.__dict__, "images": data.images.clone()})
    poisoned.images[5] = float("nan")
    with pytest.raises(train.TrainingDiverged, match="diverged in epoch 2.*learning rate"):
        train.train_run("toy", make_spec(epochs=2), poisoned, seed=7, settings=SETTINGS, progress=False,
                        log=lambda m: None, checkpoint_path=str(checkpoint))  # fmt: skip
    # The last good epoch's checkpoint is untouched.
    assert torch.load(checkpoint, weights_only=True)["epoch"] == saved["epoch"] == 1


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


def test_each_epoch_visits_every_image_once_in_a_new_seeded_order(monkeypatch):
    data = make_data(n=40)
    # Pixel (0, 0) carries each image's index so the batches can be read back.
    data.images[:, 0, 0, 0] = torch.arange(40) / 100
    seen = []

    def spy(model, images, labels, *args):
        seen.append(torch.round(images[:, 0, 0, 0] * 100).long())
        return original(model, images, labels, *args)

    original = train.HEURISTICS["vanilla"].loss
    monkeypatch.setitem(train.HEURISTICS, "vanilla", train.Heuristic(loss=spy))
    run(make_spec(epochs=2, batch_size=16), data)
    assert [len(b) for b in seen] == [16, 16, 8] * 2
    epochs = [torch.cat(seen[:3]), torch.cat(seen[3:])]
    for order in epochs:
        assert torch.equal(order.sort().values, torch.arange(40))
    assert not torch.equal(epochs[0], torch.arange(40)) and not torch.equal(epochs[0], epochs[1])


def test_evaluate_runs_the_model_in_eval_mode_and_restores_its_mode():
    from hfc.models import build_model

    torch.manual_seed(0)
    model = build_model("small_cnn", in_channels=1, num_classes=4, image_size=28, mean=[0.5], std=[0.25],
                        dropout=0.9, width=0.25)  # fmt: skip
    images, labels = torch.rand(20, 1, 28, 28), torch.arange(20) % 4
    model.train()
    accuracy, loss = train.evaluate(model, images, labels, batch_size=8)
    assert model.training
    model.eval()
    with torch.no_grad():
        logits = model(images)
    assert loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, labels)), rel=1e-5)
    assert accuracy == float((logits.argmax(1) == labels).float().mean())


def test_evaluate_gives_the_same_numbers_at_any_batch_size():
    # evaluation.batch_size is a speed setting (config.yaml: 100 is about 2x faster than 500 on a
    # CPU). A model whose logits are exact per image (scaled pixels) isolates the sum: a loss summed
    # per batch and then over batches moves in the last digits with the batch size, one sum does not.

    class Pixels(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :10] * 7.3

    generator = torch.Generator().manual_seed(0)
    images, labels = torch.rand(500, 1, 8, 8, generator=generator), torch.randint(0, 10, (500,), generator=generator)
    results = {size: train.evaluate(Pixels(), images, labels, batch_size=size) for size in (1, 7, 100, 500, 1000)}
    assert len(set(results.values())) == 1, results


# ----------------------------------------------------------------------------- load_training_data


@pytest.fixture
def run_files(tmp_path):
    """A subset file and split_frequency files at r = 4 and 8, in the workflow's formats."""
    g = torch.Generator().manual_seed(3)
    subset = {"name": "toy", "source": "test", "classes": ["a", "b", "c", "d"]}
    for split_name, n in (("train", 40), ("test", 24)):
        subset[f"{split_name}_images"] = torch.randint(0, 256, (n, 1, 12, 12), generator=g, dtype=torch.uint8)
        subset[f"{split_name}_labels"] = torch.arange(n) % 4
    subset["mean"], subset["std"] = hfc_data.channel_stats(subset["train_images"])
    hfc_data.save_canonical(subset, tmp_path / "subset.pt")
    paths, reference = {}, {}
    for split_name in ("train", "test"):
        images = subset[f"{split_name}_images"].double().numpy() / 255
        for radius in (4, 8):
            low, high = (torch.from_numpy(a).float() for a in split_reference_numpy(images, radius))
            path = tmp_path / f"{split_name}_r{radius}.pt"
            torch.save({"split": split_name, "radius": radius, "low": low, "high": high}, path)
            paths[(split_name, radius)] = str(path)
            # The authors' rescale, written out here: each image over its own maximum.
            reference[(split_name, "low", radius)] = low / low.flatten(1).max(1).values.view(-1, 1, 1, 1)
            reference[(split_name, "high", radius)] = high / high.flatten(1).max(1).values.view(-1, 1, 1, 1)
    return subset, str(tmp_path / "subset.pt"), paths, reference


def eval_index(subset, split_name, size):
    """The evaluation subset: stratified by the natural labels, seed 0 (as load() asks)."""
    return hfc_data.stratified_subset(subset[f"{split_name}_labels"], size, 0)


def load(run_files, **changes):
    _, subset_path, paths, _ = run_files
    spec = make_spec(**changes)
    return train.load_training_data(subset_path, paths, spec, [4, 8], True, 20, 12, 0, 5, torch.device("cpu"))


@pytest.mark.parametrize(("band", "radius"), [("low", 4), ("high", 4), ("low", 8), ("high", 8)])
def test_training_data_trains_on_the_runs_band_and_radius(run_files, band, radius):
    _, _, _, reference = run_files
    data = load(run_files, train_band=band, train_radius=radius)
    torch.testing.assert_close(data.images, reference[("train", band, radius)], rtol=0, atol=1e-5)


def test_training_data_original_band_is_the_images_in_0_1(run_files):
    subset = run_files[0]
    data = load(run_files)
    assert torch.equal(data.images, subset["train_images"].float() / 255)
    assert torch.equal(data.labels, subset["train_labels"])
    assert (data.num_classes, data.in_channels, data.image_size) == (4, 1, 12)


def test_training_data_eval_sets_cover_every_split_band_and_radius(run_files):
    subset, _, _, reference = run_files
    data = load(run_files)
    keys = [(s.split, s.band, s.radius) for s in data.eval_sets]
    expected = {(sp, "original", 0) for sp in ("train", "test")}
    expected |= {(sp, b, r) for sp in ("train", "test") for b in ("low", "high") for r in (4, 8)}
    assert len(keys) == len(set(keys)) == 10 and set(keys) == expected
    sizes = {"train": 20, "test": 12}
    for s in data.eval_sets:
        index = eval_index(subset, s.split, sizes[s.split])
        assert len(s.images) == sizes[s.split]
        assert torch.equal(s.labels, subset[f"{s.split}_labels"][index])
        if s.band == "original":
            assert torch.equal(s.images, subset[f"{s.split}_images"][index].float() / 255)
        else:
            # Evaluation images are the same rescaled components, subset afterwards.
            torch.testing.assert_close(s.images, reference[(s.split, s.band, s.radius)][index], rtol=0, atol=1e-5)


def test_training_data_shuffled_labels_train_and_evaluate_on_the_permutation(run_files):
    subset = run_files[0]
    data = load(run_files, labels="shuffled")
    shuffled = train.shuffled_labels(subset["train_labels"], 5)
    assert not torch.equal(shuffled, subset["train_labels"])
    assert torch.equal(data.labels, shuffled)
    for s in data.eval_sets:
        index = eval_index(subset, s.split, 20 if s.split == "train" else 12)
        # Train accuracy is measured against the labels the model was fitted to (Figure 3); test
        # labels stay natural.
        wanted = shuffled if s.split == "train" else subset["test_labels"]
        assert torch.equal(s.labels, wanted[index]), (s.split, s.band, s.radius)


def test_training_data_radius_not_split_is_refused(run_files):
    with pytest.raises(ValueError, match=r"radius 12.*frequency.radii \[4, 8\]"):
        load(run_files, train_band="low", train_radius=12)
