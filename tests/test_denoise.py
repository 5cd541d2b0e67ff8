import torch

from impasto.images.denoise import tv_denoise


def test_denoise_removes_noise_and_keeps_edges():
    torch.manual_seed(0)
    clean = torch.full((1, 3, 48, 48), 0.3)
    clean[..., :, 24:] = 0.8
    noisy = (clean + 0.1 * torch.randn_like(clean)).clamp(0, 1)
    out = tv_denoise(noisy, 0.1)
    assert (out - clean).abs().mean() < 0.4 * (noisy - clean).abs().mean()
    assert abs(float(out[..., :, 30:].mean()) - 0.8) < 0.02 and abs(float(out[..., :, :18].mean()) - 0.3) < 0.02
    assert tv_denoise(noisy, 0.0) is noisy
