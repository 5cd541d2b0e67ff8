import torch

from impasto import losses as L


def test_gram_and_style_loss_match_the_paper():
    torch.manual_seed(0)
    f, p = torch.randn(1, 8, 5, 7), torch.randn(1, 8, 5, 7)
    n, m = 8, 35
    F, P = f.reshape(n, m), p.reshape(n, m)
    G, A = F @ F.T, P @ P.T
    paper = ((G - A) ** 2).sum() / (4 * n**2 * m**2)
    assert torch.allclose(L.style_loss(f, L.gram(p)), paper, rtol=1e-5)


def test_content_loss_is_the_papers_at_512_and_size_invariant():
    torch.manual_seed(0)
    f, p = torch.randn(1, 4, 64, 64), torch.randn(1, 4, 64, 64)  # conv4 of a 512 px image
    assert torch.allclose(L.content_loss(f, p, stride=8), 0.5 * ((f - p) ** 2).sum(), rtol=1e-5)
    small = L.content_loss(f[..., :32, :32], p[..., :32, :32], stride=8)
    assert 0.8 < float(small / L.content_loss(f, p, stride=8)) < 1.25


def test_tv_is_zero_on_flat_images_and_grows_with_noise():
    units = torch.ones(1, 3, 1, 1)
    flat = torch.full((1, 3, 16, 16), 3.0)
    assert float(L.tv_loss(flat, units)) == 0.0
    noisy = flat + torch.randn(1, 3, 16, 16)
    assert float(L.tv_loss(noisy, units)) > float(L.tv_loss(flat + 0.1 * torch.randn(1, 3, 16, 16), units))
    assert float(L.tv_loss(noisy, units, beta=1.25)) > 0


def test_layer_stride():
    assert [L.layer_stride(n) for n in ("relu1_1", "conv2_2", "relu4_2", "pool4", "relu5_1")] == [1, 2, 8, 16, 16]


def test_gram_stays_fp32_inside_bf16_autocast():
    torch.manual_seed(0)
    f = torch.randn(1, 64, 16, 16) * 30
    exact = L.gram(f)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = L.gram(f)
    assert inside.dtype == torch.float32
    assert torch.allclose(inside, exact, rtol=1e-5, atol=1e-3)


def test_style_loss_gradient_is_exact_in_both_layouts():
    torch.manual_seed(0)
    target = L.gram(torch.randn(2, 6, 5, 4, dtype=torch.float64)).float()
    for layout in (torch.contiguous_format, torch.channels_last):
        f = torch.randn(2, 6, 5, 4).contiguous(memory_format=layout).requires_grad_(True)
        L.style_loss(f, target).backward()
        ref = f.detach().clone().requires_grad_(True)
        (L.gram(ref) - target).pow(2).sum().div(4 * 36).backward()  # autograd through the Gram
        assert torch.allclose(f.grad, ref.grad, rtol=1e-4, atol=1e-6)
        assert f.grad.is_contiguous(memory_format=layout)
