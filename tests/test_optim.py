"""L-BFGS on its own: convergence, curvature-pair rejection, the step cap and the pixel box."""

import torch

from impasto.optim import LBFGS


def _quadratic(a: torch.Tensor, d: torch.Tensor):
    """f(x) = 1/2 sum d (x - a)^2: an ill-conditioned bowl with its bottom at ``a``."""
    def loss(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (d * (x - a).pow(2)).sum()
    return loss


def _closure(x: torch.Tensor, f):
    def closure() -> torch.Tensor:
        x.grad = None
        value = f(x)
        value.backward()
        return value
    return closure


def test_converges_on_a_quadratic(device):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(1, 3, 8, 8, generator=g).to(device)
    d = torch.logspace(0, 2, a.numel()).reshape(a.shape).to(device)  # condition number 100
    x = torch.zeros_like(a).requires_grad_(True)
    opt = LBFGS(x, history=10, first_step=0.1)
    f = _quadratic(a, d)
    start = float(f(x.detach()))
    for _ in range(60):
        opt.step(_closure(x, f))
    assert float(f(x.detach())) < 1e-8 * start
    assert torch.allclose(x.detach(), a, atol=1e-3)


def test_a_pair_without_positive_curvature_is_not_kept(device):
    x = torch.ones(1, 1, 4, 4, device=device).requires_grad_(True)
    opt = LBFGS(x, history=5, first_step=0.1)
    concave = lambda t: -0.5 * t.pow(2).sum()  # noqa: E731 - s.y < 0 along every step
    for _ in range(3):
        opt.step(_closure(x, concave))
    assert len(opt.s) == 2
    assert all(float(r) == 0.0 for r in opt.rho) and all(float(s.abs().sum()) == 0 for s in opt.s)
    assert torch.isfinite(x).all()


def test_no_pixel_moves_further_than_the_cap(device):
    x = torch.zeros(1, 1, 100, 100, device=device).requires_grad_(True)
    spike = torch.zeros_like(x)
    spike[0, 0, 0, 0] = 1e6  # one huge gradient entry: the RMS-sized first step would move it 100x first_step
    opt = LBFGS(x, first_step=1.0, max_step=32.0)
    opt.step(_closure(x, lambda t: -(spike * t).sum()))
    moved = x.detach().abs()
    assert float(moved.max()) == 32.0 and float(moved.sum()) == 32.0


def test_iterates_stay_inside_the_box_and_reach_its_wall(device):
    a = torch.full((1, 3, 6, 6), 2.0, device=device)
    a[:, 0] = 0.5  # one channel's optimum is inside the box, the others' outside it
    x = torch.zeros_like(a).requires_grad_(True)
    lo, hi = torch.zeros(1, 3, 1, 1, device=device), torch.ones(1, 3, 1, 1, device=device)
    opt = LBFGS(x, history=10, first_step=0.05, bounds=(lo, hi))
    f = _quadratic(a, torch.ones_like(a))
    for _ in range(40):
        opt.step(_closure(x, f))
        assert float(x.detach().min()) >= 0.0 and float(x.detach().max()) <= 1.0
    assert torch.allclose(x.detach()[:, 0].cpu(), torch.full((1, 6, 6), 0.5), atol=1e-3)
    assert torch.allclose(x.detach()[:, 1:].cpu(), torch.ones(1, 2, 6, 6), atol=1e-3)
