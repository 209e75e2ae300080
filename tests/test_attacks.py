import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from hfc.attacks import accuracy_under_attack, apgd, dlr_loss, fgsm, pgd, pgd_restarts, square


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Hundreds of tiny forward/backward passes: extra threads only spin on a shared CPU.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_cnn(batchnorm: bool = False, dropout: bool = False) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        layers = [nn.Conv2d(1, 4, 3, padding=1)]
        if batchnorm:
            layers.append(nn.BatchNorm2d(4))
        layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers.append(nn.Linear(8 * 3 * 3, 10))
        return nn.Sequential(*layers)


@pytest.fixture
def data():
    """A tiny untrained CNN, 64 random images and its own predictions as labels (clean accuracy 1)."""
    model = tiny_cnn().eval()
    images = torch.rand(64, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        labels = model(images).argmax(dim=1)
    return model, images, labels


def test_fgsm_matches_linear_model_closed_form():
    # For a linear softmax model the CE input gradient is Wᵀ(p − onehot(y)); with two
    # classes its sign is sign(w_other − w_true) pixel by pixel.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 2, bias=False))
    images = torch.full((4, 2, 3, 3), 0.5)
    labels = torch.tensor([0, 1, 0, 1])
    w = model[1].weight.detach().reshape(2, 2, 3, 3)
    direction = torch.stack([torch.sign(w[1 - y] - w[y]) for y in labels.tolist()])
    assert torch.equal(fgsm(model, images, labels, eps=0.1), images + 0.1 * direction)


def test_pgd_single_full_step_is_fgsm(data):
    model, images, labels = data
    assert torch.equal(pgd(model, images, labels, eps=0.03, steps=1, step_size=0.03), fgsm(model, images, labels, 0.03))


def test_pgd_increases_loss_and_stays_in_bounds(data):
    model, images, labels = data
    eps = 0.03
    adv = pgd(model, images, labels, eps=eps, steps=10, step_size=eps / 4)
    assert (adv - images).abs().max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    with torch.no_grad():
        assert F.cross_entropy(model(adv), labels) > F.cross_entropy(model(images), labels)
    # The bound is attained somewhere, i.e. the attack does not silently do nothing.
    assert (adv - images).abs().max() > eps * 0.99


def test_clipping_at_pixel_range():
    model = tiny_cnn().eval()
    images = torch.cat([torch.zeros(8, 1, 12, 12), torch.ones(8, 1, 12, 12)])
    labels = torch.arange(16) % 10
    for adv in (fgsm(model, images, labels, 0.5), pgd(model, images, labels, 0.5, steps=3, step_size=0.2)):
        assert adv.min() >= 0 and adv.max() <= 1
        assert (adv - images).abs().max() <= 0.5 + 1e-6


@pytest.mark.parametrize("random_start", [False, True])
def test_eps_zero_is_identity(data, random_start):
    model, images, labels = data
    assert torch.equal(fgsm(model, images, labels, 0), images)
    adv = pgd(model, images, labels, 0.0, steps=5, step_size=0.01, random_start=random_start)
    assert torch.equal(adv, images)
    assert adv.data_ptr() != images.data_ptr()


def test_random_start_deterministic_with_generator(data):
    model, images, labels = data

    def run(seed):
        gen = torch.Generator().manual_seed(seed)
        return pgd(model, images, labels, 0.03, steps=2, step_size=0.003, random_start=True, generator=gen)

    assert torch.equal(run(5), run(5))
    assert not torch.equal(run(5), run(6))
    assert not torch.equal(run(5), pgd(model, images, labels, 0.03, steps=2, step_size=0.003))


def test_batched_equals_per_image(data):
    model, images, labels = data
    batched = pgd(model, images, labels, 0.03, steps=5, step_size=0.01)
    looped = torch.cat(
        [pgd(model, images[i : i + 1], labels[i : i + 1], 0.03, steps=5, step_size=0.01) for i in range(8)]
    )
    torch.testing.assert_close(batched[:8], looped, atol=1e-6, rtol=0)


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_mode_restored_and_no_parameter_grads(attack):
    model = tiny_cnn(batchnorm=True, dropout=True).train()
    model[1].eval()  # mixed modes must come back exactly as they were
    model[0].bias.requires_grad_(False)
    modes = [m.training for m in model.modules()]
    bn_mean = model[1].running_mean.clone()
    images = torch.rand(16, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(16) % 10
    kw = {"steps": 3, "step_size": 0.01} if attack == "pgd" else {}
    adv_a = (pgd if attack == "pgd" else fgsm)(model, images, labels, 0.03, **kw)
    adv_b = (pgd if attack == "pgd" else fgsm)(model, images, labels, 0.03, **kw)
    assert [m.training for m in model.modules()] == modes
    assert all(p.grad is None for p in model.parameters())
    assert not model[0].bias.requires_grad and model[0].weight.requires_grad
    assert torch.equal(model[1].running_mean, bn_mean)
    # Dropout was off during the attack (eval mode), so repeated attacks agree.
    assert torch.equal(adv_a, adv_b)


def test_eval_mode_false_attacks_in_current_mode():
    model = tiny_cnn(batchnorm=True).train()
    bn_mean = model[1].running_mean.clone()
    images = torch.rand(16, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(16) % 10
    pgd(model, images, labels, 0.03, steps=2, step_size=0.01, eval_mode=False)
    assert model.training and model[1].training
    assert not torch.equal(model[1].running_mean, bn_mean)


def test_works_under_no_grad(data):
    model, images, labels = data
    with torch.no_grad():
        adv = pgd(model, images, labels, 0.03, steps=2, step_size=0.01)
    assert not torch.equal(adv, images)


def test_accuracy_under_attack(data):
    model, images, labels = data
    model.train()
    assert accuracy_under_attack(model, images, labels, "clean") == 1.0
    pgd_kw = {"steps": 10, "step_size": 0.0025}
    fgsm_acc = accuracy_under_attack(model, images, labels, "fgsm", eps=0.01, batch_size=64)
    pgd_acc = accuracy_under_attack(model, images, labels, "pgd", eps=0.01, batch_size=64, **pgd_kw)
    assert 0 < pgd_acc <= fgsm_acc < 1
    # Batching must not change the result (per-image losses are independent in eval mode).
    assert accuracy_under_attack(model, images, labels, "pgd", eps=0.01, batch_size=7, **pgd_kw) == pgd_acc
    with torch.no_grad():
        expected = (model.eval()(pgd(model, images, labels, 0.01, **pgd_kw)).argmax(1) == labels).float().mean().item()
    assert pgd_acc == pytest.approx(expected)
    assert model.training is False  # we set eval above; accuracy_under_attack restored what it found


def test_accuracy_under_attack_restores_train_mode(data):
    model, images, labels = data
    model.train()
    accuracy_under_attack(model, images, labels, "fgsm", eps=0.01)
    assert model.training


def test_bad_inputs(data):
    model, images, labels = data
    with pytest.raises(ValueError, match="one of"):
        accuracy_under_attack(model, images, labels, "cw", eps=0.1)
    with pytest.raises(ValueError, match="no extra arguments"):
        accuracy_under_attack(model, images, labels, "fgsm", eps=0.1, steps=3)
    with pytest.raises(ValueError, match="needs"):
        accuracy_under_attack(model, images, labels, "pgd", eps=0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fgsm(model, images * 255, labels, 0.1)
    with pytest.raises(ValueError, match="eps"):
        fgsm(model, images, labels, -0.1)
    with pytest.raises(ValueError, match="int64"):
        fgsm(model, images, labels.float(), 0.1)
    with pytest.raises(ValueError, match="steps"):
        pgd(model, images, labels, 0.1, steps=2.5, step_size=0.01)


# --- comparison with an independent implementation (test-only dependency) ---------------


@pytest.mark.parametrize("eps", [0.01, 0.03])
def test_fgsm_matches_torchattacks(data, eps):
    torchattacks = pytest.importorskip("torchattacks", reason="torchattacks (test-only reference) is not installed")
    model, images, labels = data
    reference = torchattacks.FGSM(model, eps=eps)(images, labels)
    ours = fgsm(model, images, labels, eps)
    assert not torch.equal(ours, images)
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=0)


@pytest.mark.parametrize("eps", [0.01, 0.03])
def test_pgd_matches_torchattacks(data, eps):
    torchattacks = pytest.importorskip("torchattacks", reason="torchattacks (test-only reference) is not installed")
    model, images, labels = data
    steps, alpha = 10, eps / 4
    reference = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(images, labels)
    ours = pgd(model, images, labels, eps, steps=steps, step_size=alpha, random_start=False)
    with torch.no_grad():
        ref_acc = (model(reference).argmax(1) == labels).float().mean().item()
    acc = accuracy_under_attack(model, images, labels, "pgd", eps=eps, steps=steps, step_size=alpha)
    assert 0 < acc < 1  # a non-trivial operating point, so agreement means something
    assert acc == ref_acc
    # Sign flips of near-zero gradients may differ in the last bit; allow a few pixels.
    assert ((ours - reference).abs() > 1e-6).float().mean() < 0.01


# --- PGD with restarts, APGD and Square --------------------------------------------------


def _accuracy(model, adv, labels):
    with torch.no_grad():
        return (model(adv).argmax(1) == labels).float().mean().item()


def test_pgd_restarts_first_run_is_table2_pgd_and_restarts_only_help(data):
    model, images, labels = data
    eps, steps, step = 0.02, 2, 0.005
    plain = pgd(model, images, labels, eps, steps, step)
    one = pgd_restarts(model, images, labels, eps, steps, step, restarts=1)
    assert torch.equal(one, plain)
    gen = torch.Generator().manual_seed(0)
    three = pgd_restarts(model, images, labels, eps, steps, step, restarts=3, generator=gen)
    assert (three - images).abs().max() <= eps + 1e-6 and three.min() >= 0 and three.max() <= 1
    # Images fooled by the first run keep that example; restarts fool more (0.656 -> 0.625 here).
    fooled = model(plain).argmax(1) != labels
    assert torch.equal(three[fooled], plain[fooled])
    assert _accuracy(model, three, labels) < _accuracy(model, plain, labels)


@pytest.mark.parametrize("loss", ["ce", "dlr"])
@pytest.mark.parametrize("eps", [0.01, 0.03])
def test_apgd_matches_torchattacks(data, loss, eps):
    torchattacks = pytest.importorskip("torchattacks", reason="torchattacks (test-only reference) is not installed")
    model, images, labels = data
    reference = torchattacks.APGD(model, eps=eps, steps=20, n_restarts=2, seed=3, loss=loss)(images, labels)
    ours = apgd(model, images, labels, eps, steps=20, loss=loss, restarts=2, generator=torch.Generator().manual_seed(3))
    assert 0 < _accuracy(model, ours, labels) < 1  # a non-trivial operating point
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=0)


@pytest.mark.parametrize("eps", [0.03, 0.1])
def test_square_matches_torchattacks(data, eps):
    torchattacks = pytest.importorskip("torchattacks", reason="torchattacks (test-only reference) is not installed")
    model, images, labels = data
    reference = torchattacks.Square(model, eps=eps, n_queries=100, seed=5)(images, labels)
    ours = square(model, images, labels, eps, queries=100, generator=torch.Generator().manual_seed(5))
    assert 0 < _accuracy(model, ours, labels) < 1
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=0)


def _linear_case(seed=0, n=48, eps=0.1):
    """A 3-class (DLR needs three) linear model on 1×4×4 images in the middle of [0, 1] (no clipping within eps),
    with its exact robust accuracy: image i withstands every L∞ perturbation of size eps iff for
    each other class j its logit margin exceeds eps·‖w_y − w_j‖₁."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
        images = 0.3 + 0.4 * torch.rand(n, 1, 4, 4)
    # Class 2 out of reach: the margin is then linear in the perturbation, so Square's greedy
    # pixel-by-pixel search has no local optimum but the corner (with three live classes the
    # margin is a minimum of linear functions and greedy search can stall).
    # Classes 0 and 1 tie at the grey image 0.5, so the labels split. The last row and column
    # get no weight: Square (as the reference) never draws a square's corner there, so only the
    # first stripes would set those pixels.
    with torch.no_grad():
        model[1].weight.view(3, 4, 4)[:, 3, :] = 0
        model[1].weight.view(3, 4, 4)[:, :, 3] = 0
        model[1].bias.copy_(-0.5 * model[1].weight.sum(dim=1))
        model[1].bias[2] = -100.0
    with torch.no_grad():
        logits = model(images)
    labels = logits.argmax(1)
    w = model[1].weight.detach()
    ratio = torch.stack(
        [(logits[:, y] - logits[:, j]) / (eps * (w[y] - w[j]).abs().sum()) for y, j in ((0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1))],
        dim=1,
    )
    pairs = [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    own = torch.stack([torch.tensor([k for k, (y, _) in enumerate(pairs) if y == label]) for label in labels.tolist()])
    worst = ratio.gather(1, own).min(dim=1).values
    return model, images, labels, worst


def test_apgd_and_square_reach_the_exact_robust_accuracy_of_a_linear_model():
    eps = 0.03  # images in [0.3, 0.7]: no clipping
    model, images, labels, worst = _linear_case(eps=eps, n=96)
    clear = (worst - 1).abs() > 0.05  # leave out images that sit on the threshold
    images, labels, worst = images[clear], labels[clear], worst[clear]
    exact = (worst > 1).float().mean().item()
    assert 0.2 < exact < 0.8
    for loss in ("ce", "dlr"):
        assert _accuracy(model, apgd(model, images, labels, eps, steps=50, loss=loss), labels) == pytest.approx(exact)
    # With enough queries the squares shrink to single pixels and the greedy search reaches the corner.
    assert _accuracy(model, square(model, images, labels, eps, queries=500), labels) == pytest.approx(exact)


def test_new_attacks_bad_inputs(data):
    model, images, labels = data
    with pytest.raises(ValueError, match="queries"):
        square(model, images, labels, 0.03, queries=0)
    with pytest.raises(ValueError, match="p_init"):
        square(model, images, labels, 0.03, queries=5, p_init=1.5)
    with pytest.raises(ValueError, match="loss"):
        apgd(model, images, labels, 0.03, steps=5, loss="cw")
    with pytest.raises(ValueError, match="restarts"):
        pgd_restarts(model, images, labels, 0.03, 2, 0.01, restarts=0)
    with pytest.raises(ValueError, match="K >= 3"):
        dlr_loss(torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64))
