"""The loss terms: the paper's formulas, their gradients, and the two other style losses."""

import pytest
import torch

from impasto.features.layers import layer_stride
from impasto.losses import terms as T
from impasto.losses.style import STYLE_LOSSES, GramLoss, SlicedLoss, W2Loss, gram


def _target(loss, f, weight=1.0):
    return loss.target([(loss.describe(f), weight)])


def test_gram_and_style_loss_match_the_paper():
    torch.manual_seed(0)
    f, p = torch.randn(1, 8, 5, 7), torch.randn(1, 8, 5, 7)
    n, m = 8, 35
    F, P = f.reshape(n, m), p.reshape(n, m)
    G, A = F @ F.T, P @ P.T
    paper = ((G - A) ** 2).sum() / (4 * n**2 * m**2)
    loss = GramLoss()
    assert torch.allclose(loss.value(f, gram(p)), paper, rtol=1e-5)
    assert torch.allclose(loss.value(f, _target(loss, p)), paper, rtol=1e-5)
    assert torch.allclose(loss.compare(loss.stat(f, None), gram(p)), paper, rtol=1e-5)


def test_content_loss_is_the_papers_at_512_and_size_invariant():
    torch.manual_seed(0)
    f, p = torch.randn(1, 4, 64, 64), torch.randn(1, 4, 64, 64)  # conv4 of a 512 px image
    assert torch.allclose(T.content_loss(f, p, stride=8), 0.5 * ((f - p) ** 2).sum(), rtol=1e-5)
    small = T.content_loss(f[..., :32, :32], p[..., :32, :32], stride=8)
    assert 0.8 < float(small / T.content_loss(f, p, stride=8)) < 1.25


def test_content_loss_of_tiles_adds_up_to_the_whole():
    torch.manual_seed(0)
    f, p = torch.randn(1, 4, 16, 16), torch.randn(1, 4, 16, 16)
    whole = T.content_loss(f, p, stride=2)
    parts = sum(T.content_loss(f[..., r, :], p[..., r, :], stride=2, count=256) for r in (slice(0, 5), slice(5, 16)))
    assert torch.allclose(whole, parts, rtol=1e-5)


def test_tv_is_zero_on_flat_images_and_grows_with_noise():
    units = torch.ones(1, 3, 1, 1)
    flat = torch.full((1, 3, 16, 16), 3.0)
    assert float(T.tv_loss(flat, units)) == 0.0
    noisy = flat + torch.randn(1, 3, 16, 16)
    assert float(T.tv_loss(noisy, units)) > float(T.tv_loss(flat + 0.1 * torch.randn(1, 3, 16, 16), units))
    assert float(T.tv_loss(noisy, units, beta=1.25)) > 0


def test_layer_stride():
    assert [layer_stride(n) for n in ("relu1_1", "conv2_2", "relu4_2", "pool4", "relu5_1")] == [1, 2, 8, 16, 16]


def test_gram_stays_fp32_inside_bf16_autocast(device):
    torch.manual_seed(0)
    f = (torch.randn(1, 64, 16, 16) * 30).to(device)
    with torch.autocast(f.device.type, enabled=False):  # the reference: plain fp32 (no TF32 either)
        exact = (f.reshape(64, -1).double() @ f.reshape(64, -1).double().T / 256).float()
    with torch.autocast(f.device.type, dtype=torch.bfloat16):
        inside = gram(f)
    assert inside.dtype == torch.float32
    assert torch.allclose(inside[0], exact, rtol=1e-5, atol=1e-3)


def test_gram_loss_gradient_is_exact_in_both_layouts(device):
    torch.manual_seed(0)
    target = gram(torch.randn(2, 6, 5, 4, dtype=torch.float64)).float().to(device)
    for layout in (torch.contiguous_format, torch.channels_last):
        f = torch.randn(2, 6, 5, 4).to(device).contiguous(memory_format=layout).requires_grad_(True)
        GramLoss().value(f, target).backward()
        ref = f.detach().clone().requires_grad_(True)
        (gram(ref) - target).pow(2).sum().div(4 * 36 * 2).backward()  # autograd through the Gram, batch mean
        assert torch.allclose(f.grad, ref.grad, rtol=1e-4, atol=1e-6)
        assert f.grad.is_contiguous(memory_format=layout)


@pytest.mark.parametrize("name", sorted(STYLE_LOSSES))
def test_each_style_loss_is_zero_at_its_target_and_grows_away(name, device):
    torch.manual_seed(0)
    loss = STYLE_LOSSES[name]()
    loss.begin(torch.Generator().manual_seed(0))
    f = torch.randn(1, 8, 12, 12).abs().to(device)
    t = _target(loss, f)
    assert float(loss.value(f, t)) == pytest.approx(0.0, abs=1e-4 * float(loss.value(f * 0, t)) + 1e-6)
    near, far = f + 0.1 * torch.randn_like(f), f + 1.0 * torch.randn_like(f)
    assert 0 < float(loss.value(near, t)) < float(loss.value(far, t))


@pytest.mark.parametrize("name", sorted(STYLE_LOSSES))
def test_each_style_loss_tiles_merge_to_the_whole(name, device):
    """Statistics of two halves merge to the whole image's: the tiled objective relies on it."""
    torch.manual_seed(0)
    loss = STYLE_LOSSES[name]()
    loss.begin(torch.Generator().manual_seed(0))
    f, s = torch.randn(1, 8, 10, 12).to(device), torch.randn(1, 8, 9, 9).to(device)
    t = _target(loss, s)
    whole = loss.compare(loss.stat(f, None), t)
    merged = loss.compare(loss.merge([loss.stat(f[..., :4, :], None), loss.stat(f[..., 4:, :], None)]), t)
    assert torch.allclose(whole, merged, rtol=1e-4)


def test_w2_is_the_gaussian_formula():
    """Against the closed form computed by hand in float64 (population covariances)."""
    torch.manual_seed(0)
    f, s = torch.randn(1, 5, 8, 8) * 2 + 1, torch.randn(1, 5, 9, 7)
    x, y = f.reshape(5, -1).double(), s.reshape(5, -1).double()
    mx, my = x.mean(1), y.mean(1)
    cx, cy = (x - mx[:, None]) @ (x - mx[:, None]).T / 64, (y - my[:, None]) @ (y - my[:, None]).T / 63

    def sqrtm(a):
        v, q = torch.linalg.eigh(a)
        return q @ torch.diag(v.clamp_min(0).sqrt()) @ q.T

    ry = sqrtm(cy)
    want = (mx - my).pow(2).sum() + cx.trace() + cy.trace() - 2 * sqrtm(ry @ cx @ ry).trace()
    loss = W2Loss()
    loss.RIDGE = 0.0  # the formula itself, without the smoothing ridge
    got = loss.value(f, _target(loss, s)) * 5 / loss.SCALE  # the loss is per channel
    assert float(got) == pytest.approx(float(want), rel=1e-3)


def test_w2_gradient_is_finite_for_rank_deficient_covariances(device):
    """Fewer positions than channels (deep layers of small images): eigh's own gradient would be NaN."""
    torch.manual_seed(0)
    loss = W2Loss()
    f = torch.randn(1, 16, 2, 2).to(device).requires_grad_(True)
    loss.value(f, _target(loss, torch.randn(1, 16, 3, 2).to(device))).backward()
    assert torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0


def test_sliced_matches_sorted_projections_and_blends_as_a_mixture():
    torch.manual_seed(0)
    loss = SlicedLoss()
    loss.begin(torch.Generator().manual_seed(0))
    f, s = torch.randn(1, 4, 6, 6), torch.randn(1, 4, 6, 6) + 3
    d = loss._dirs(4, f.device)
    px = (f.reshape(4, -1).T @ d).sort(0).values
    ps = (s.reshape(4, -1).T @ d).sort(0).values
    want = (px - ps).pow(2).mean() / 4 * loss.SCALE
    assert float(loss.value(f, _target(loss, s))) == pytest.approx(float(want), rel=1e-4)
    # a blend of the image's own features and another set: half the image's distribution is matched
    both = loss.target([(loss.describe(f), 1.0), (loss.describe(s), 1.0)])
    assert 0 < float(loss.value(f, both)) < float(loss.value(f, _target(loss, s)))
