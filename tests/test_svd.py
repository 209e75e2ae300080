import numpy as np
import pytest
import torch

from hfc.svd import svd_split


@pytest.fixture
def images():
    return torch.rand(3, 2, 8, 10, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("rank", [1, 3, 7])
def test_parts_sum_to_images(images, rank):
    dominant, trailing = svd_split(images, rank)
    assert dominant.shape == trailing.shape == images.shape
    assert dominant.dtype == trailing.dtype == images.dtype
    torch.testing.assert_close(dominant + trailing, images, atol=1e-5, rtol=0)
    assert trailing.abs().max() > 1e-3  # the split is not trivial


@pytest.mark.parametrize("rank", [1, 3, 7])
def test_rank_of_each_part(images, rank):
    dominant, trailing = svd_split(images.double(), rank)
    assert (torch.linalg.matrix_rank(dominant) == rank).all()
    assert (torch.linalg.matrix_rank(trailing) == min(images.shape[-2:]) - rank).all()


@pytest.mark.parametrize("rank", [1, 4])
def test_matches_numpy_per_image(images, rank):
    dominant, trailing = svd_split(images.double(), rank)
    for n in range(images.shape[0]):
        for c in range(images.shape[1]):
            u, s, vh = np.linalg.svd(images[n, c].double().numpy(), full_matrices=False)
            np.testing.assert_allclose(dominant[n, c].numpy(), (u[:, :rank] * s[:rank]) @ vh[:rank], atol=1e-10)
            np.testing.assert_allclose(trailing[n, c].numpy(), (u[:, rank:] * s[rank:]) @ vh[rank:], atol=1e-10)


def test_channels_and_images_are_independent(images):
    dominant, _ = svd_split(images, 2)
    alone, _ = svd_split(images[1:2, 1:2], 2)
    torch.testing.assert_close(dominant[1:2, 1:2], alone)


def test_half_precision_input():
    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
    dominant, trailing = svd_split(x, 2)
    assert dominant.dtype == torch.bfloat16
    torch.testing.assert_close((dominant.float() + trailing.float()), x.float(), atol=2e-2, rtol=0)


@pytest.mark.parametrize("rank", [0, 8, 9, -1, 2.0, True])
def test_bad_rank(images, rank):
    with pytest.raises(ValueError, match="rank"):
        svd_split(images, rank)


def test_bad_shape():
    with pytest.raises(ValueError, match="N×C×H×W"):
        svd_split(torch.rand(8, 8), 2)
