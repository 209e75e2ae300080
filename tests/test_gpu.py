"""CPU/GPU agreement: the frequency split, the attacks and a training step (marked ``gpu``).

Skipped without CUDA (tests/conftest.py); ``benchmarks/gpu_check.sh`` runs them on a GPU
machine. Floats are compared with tolerances: cuFFT, cuDNN and the CPU kernels round
differently.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hfc import attacks, frequency, models, train
from hfc.grid import RunSpec

pytestmark = pytest.mark.gpu
CUDA = torch.device("cuda")


def _images(n=64, channels=3, size=32, seed=0):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("method", ["fft", "matmul"])
def test_split_agrees_on_cpu_and_gpu(method):
    x = _images()
    radii = [4, 8, 12, 16]
    on_cpu = frequency.split_many(x, radii, method=method)
    on_gpu = frequency.split_many(x.to(CUDA), radii, method=method)
    for r in radii:
        for cpu_band, gpu_band in zip(on_cpu[r], on_gpu[r]):
            assert gpu_band.device.type == CUDA.type
            torch.testing.assert_close(gpu_band.cpu(), cpu_band, atol=1e-5, rtol=1e-5)


def _model(seed=0):
    torch.manual_seed(seed)
    return models.build_model("small_cnn", in_channels=3, num_classes=10, image_size=32,
                              mean=[0.5] * 3, std=[0.25] * 3, width=0.5).eval()  # fmt: skip


def test_attacks_agree_on_cpu_and_gpu():
    x, y = _images(), torch.arange(64) % 10
    cpu_model = _model()
    gpu_model = _model().to(CUDA)
    for attack in (
        lambda m, a, b: attacks.fgsm(m, a, b, eps=0.03),
        lambda m, a, b: attacks.pgd(m, a, b, eps=0.03, steps=5, step_size=0.0075),
    ):
        on_cpu = attack(cpu_model, x, y)
        on_gpu = attack(gpu_model, x.to(CUDA), y.to(CUDA)).cpu()
        # A gradient component near zero may take the other sign on the other device: nearly
        # every pixel must agree exactly, and every one within the budget.
        assert float((on_cpu == on_gpu).float().mean()) > 0.99
        assert float((on_gpu - x).abs().max()) <= 0.03 + 1e-6
        with torch.no_grad():
            agree = (cpu_model(on_cpu).argmax(1) == gpu_model(on_gpu.to(CUDA)).argmax(1).cpu()).float().mean()
        assert float(agree) > 0.95


def test_training_step_agrees_on_cpu_and_gpu():
    x, y = _images(200), torch.arange(200) % 10
    params = {}
    for name, device in (("cpu", torch.device("cpu")), ("cuda", CUDA)):
        model = _model().to(device).train()
        optimizer = train.build_optimizer("adam", model.parameters(), 1e-3)
        for start in range(0, 200, 100):
            loss = F.cross_entropy(model(x[start:start + 100].to(device)), y[start:start + 100].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        params[name] = [p.detach().cpu() for p in model.parameters()]
    for on_cpu, on_gpu in zip(params["cpu"], params["cuda"]):
        torch.testing.assert_close(on_gpu, on_cpu, atol=1e-4, rtol=1e-3)


def test_train_run_fast_path_on_gpu_bf16_channels_last():
    # The whole on-device path of a workflow job: bf16 autocast and NHWC, one short run.
    x, y = _images(200).to(CUDA), (torch.arange(200) % 10).to(CUDA)
    eval_sets = [train.EvalSet(split, "original", 0, x[:50], y[:50]) for split in ("train", "test")]
    data = train.TrainingData("synthetic", x, y, 10, 3, 32, [0.5] * 3, [0.25] * 3, eval_sets)
    spec = RunSpec(model="resnet18", heuristic="vanilla", optimizer="adam", lr=1e-3, batch_size=50,
                   train_band="original", train_radius=0, labels="natural", epochs=1)  # fmt: skip
    settings = {"width_by_model": {"resnet18": 0.25}, "precision": "bf16", "channels_last": True}
    model, metrics = train.train_run("gpu-check", spec, data, 0, settings, progress=False, log=lambda m: None)
    assert next(model.parameters()).device.type == CUDA.type
    assert metrics["accuracy"].between(0, 1).all() and torch.isfinite(torch.tensor(metrics["loss"].to_numpy())).all()
