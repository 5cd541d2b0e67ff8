"""--cuda-graph: the ring-buffer L-BFGS and the graphed loop give the plain loop's iterates.

Off CUDA the graphed loop runs its schedule with each recorded piece executed directly (the
tests add the CPU to ``GRAPH_DEVICES``); with IMPASTO_TEST_DEVICE=cuda the same tests capture
and replay real CUDA graphs.
"""

from __future__ import annotations

import pytest
import torch

from impasto import optim, prepare
from impasto.engine import graphed
from impasto.optim import LBFGS


def _reference_lbfgs(x: torch.Tensor, f, steps: int, history: int, first_step: float, max_step: float,
                     bounds) -> list[torch.Tensor]:
    """Textbook L-BFGS with growing lists (the form optim.LBFGS had before its ring buffers)."""
    flat = (lambda t: t.permute(0, 2, 3, 1).reshape(-1)) if x.is_contiguous(memory_format=torch.channels_last) \
        else (lambda t: t.reshape(-1))
    unflat = (lambda v: v.view(x.shape[0], x.shape[2], x.shape[3], x.shape[1]).permute(0, 3, 1, 2)) \
        if x.is_contiguous(memory_format=torch.channels_last) else (lambda v: v.view_as(x))
    S, Y, R, prev_g, prev_s, gamma, out = [], [], [], None, None, torch.ones(()), []
    cap = max_step * first_step
    for _ in range(steps):
        x.grad = None
        f(x).backward()
        with torch.no_grad():
            g = flat(x.grad).float()
            if prev_g is not None:
                y, s = g - prev_g, prev_s
                ys, yy = torch.dot(y, s), torch.dot(y, y)
                ok = ys > 1e-10 * torch.sqrt(yy * torch.dot(s, s))
                zero = torch.zeros_like(ys)
                R.append(torch.where(ok, 1.0 / ys.clamp_min(1e-30), zero))
                S.append(torch.where(ok, s, zero))
                Y.append(torch.where(ok, y, zero))
                gamma = torch.where(ok, ys / yy.clamp_min(1e-30), gamma)
                if len(S) > history:
                    del S[0], Y[0], R[0]
            q, alphas = -g, []
            for s, y, rho in zip(reversed(S), reversed(Y), reversed(R)):
                a = rho * torch.dot(s, q)
                q.addcmul_(y, a, value=-1.0)
                alphas.append(a)
            d = q.mul_(gamma)
            for (s, y, rho), a in zip(zip(S, Y, R), reversed(alphas)):
                d.addcmul_(s, a - rho * torch.dot(y, d))
            if prev_g is None:
                d = d * (first_step / d.pow(2).mean().sqrt().clamp_min(1e-30))
            d = torch.nan_to_num(d, nan=0.0, posinf=0.0, neginf=0.0)
            d = d * (cap / d.abs().max().clamp_min(cap))
            moved = (x + unflat(d)).clamp(*bounds)
            d = flat(moved) - flat(x)
            x.copy_(moved)
            prev_g, prev_s = g, d
            out.append(x.detach().clone())
    return out


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_ring_buffers_give_the_list_forms_iterates(device, layout):
    """Three pairs kept over fifteen steps: the ring wraps four times, in both memory orders."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(1, 3, 8, 8, generator=g).to(device)
    d = torch.logspace(0, 2, a.numel()).reshape(a.shape).to(device)
    f = lambda t: 0.5 * (d * (t - a).pow(2)).sum() + 0.1 * (t - a).pow(4).sum()  # noqa: E731
    bounds = (torch.full((1, 3, 1, 1), -1.0, device=device), torch.full((1, 3, 1, 1), 1.0, device=device))
    start = torch.zeros_like(a).contiguous(memory_format=layout)
    want = _reference_lbfgs(start.clone().requires_grad_(True), f, 15, 3, 0.1, 32.0, bounds)
    x = start.clone().requires_grad_(True)
    opt = LBFGS(x, history=3, first_step=0.1, bounds=bounds)
    for k in range(15):
        def closure():
            x.grad = None
            v = f(x)
            v.backward()
            return v
        opt.step(closure)
        assert torch.allclose(x.detach(), want[k], rtol=0, atol=1e-6 if device != "cpu" else 0), k
    assert len(opt.s) == 3 and len(opt.rho) == 3


def test_sweeping_every_row_equals_visiting_the_rows_in_use(device):
    """A recorded update sweeps all rows, used or not; the plain step visits the rows in use."""
    g = torch.Generator().manual_seed(1)
    a = torch.randn(1, 3, 6, 6, generator=g).to(device)
    f = lambda t: (t - a).pow(2).sum() + 0.05 * (t - a).pow(4).sum()  # noqa: E731
    xs = [torch.zeros_like(a).requires_grad_(True) for _ in range(2)]
    opts = [LBFGS(x, history=5, first_step=0.1) for x in xs]
    for _ in range(9):
        for x, opt, sweep_all in zip(xs, opts, (False, True)):
            x.grad = None
            f(x).backward()
            row = opt.advance()
            opt.apply(row, opt.history if sweep_all and row is not None else opt.pairs)
        assert torch.equal(xs[0].detach(), xs[1].detach())


def _graphable(monkeypatch, device: str) -> None:
    monkeypatch.setattr(graphed, "GRAPH_DEVICES", graphed.GRAPH_DEVICES | {torch.device(device).type})


def test_graphed_run_gives_the_plain_runs_steps(small, device, monkeypatch):
    """16 steps with 5 L-BFGS rows (the ring wraps twice): the same losses and the same best image."""
    _graphable(monkeypatch, device)
    monkeypatch.setattr(optim, "lbfgs_history", lambda x, cap=100: 5)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)  # the same kernels, replayed or not
    kw = dict(max_long_edge=32, iterations=16, precision="fp32", device=device)
    plain = prepare(*small, **kw)
    totals = [s.losses["total"] for s in plain]
    run = prepare(*small, cuda_graph="on", **kw)
    assert run.run.graphed and run.run.graph_note is None
    steps = list(run)  # held, then read: each Step keeps its own losses, not the last replay's
    got = [s.losses["total"] for s in steps]
    if torch.device(device).type == "cpu":
        assert got == totals
        assert plain.best_image().tobytes() == run.best_image().tobytes()
    else:  # the same run to rounding (reductions may still be ordered differently)
        assert got == pytest.approx(totals, rel=1e-4)
        a = torch.tensor(list(plain.best_image().tobytes()), dtype=torch.float32)
        b = torch.tensor(list(run.best_image().tobytes()), dtype=torch.float32)
        assert float((a - b).abs().mean()) < 1.0
    assert float(run.best_loss) == pytest.approx(float(plain.best_loss), rel=1e-3)


@pytest.mark.parametrize("extra, why", [
    (dict(optimizer="adam"), "optimizer"),
    (dict(style_loss="sliced"), "style-loss"),
    (dict(memory="checkpoint"), "checkpoint"),
])
def test_what_cannot_be_captured_runs_as_usual_and_says_why(small, device, monkeypatch, extra, why):
    _graphable(monkeypatch, device)
    run = prepare(*small, cuda_graph="on", max_long_edge=32, iterations=4, device=device, **extra)
    assert not run.run.graphed and why in run.run.graph_note
    assert len(list(run)) == 4


def test_off_cuda_the_option_is_ignored(small):
    run = prepare(*small, cuda_graph="on", max_long_edge=32, iterations=2, device="cpu")
    assert not run.run.graphed and "not CUDA" in run.run.graph_note
    assert len(list(run)) == 2
    assert prepare(*small, max_long_edge=32, iterations=1, device="cpu", cuda_graph="off").run.graph_note == "off"
    assert "not CUDA" in prepare(*small, max_long_edge=32, iterations=1, device="cpu").run.graph_note  # auto
