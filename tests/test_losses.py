"""Each training loss does what it claims on a toy embedding set, and they combine."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial import ConvexHull

from myna_rpe.training.losses import KMeansLoss, hull_loss, hull_loss_bounds, nt_xent, spherical_kmeans


def _reference_nt_xent(a: torch.Tensor, b: torch.Tensor, tau: float) -> float:
    """Loop-by-loop NT-Xent as written in the SimCLR paper, to check the vectorised one."""
    z = F.normalize(torch.cat((a, b)), dim=-1).double()
    n2 = z.shape[0]
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        p = (i + n) % n2
        denom = sum(math.exp(float(z[i] @ z[j]) / tau) for j in range(n2) if j != i)
        total += -math.log(math.exp(float(z[i] @ z[p]) / tau) / denom)
    return total / n2


def test_nt_xent_groups_leave_same_album_views_out_of_the_denominator():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    groups = torch.tensor([0, 0, 1, 2])
    assert nt_xent(a, b, 0.2, groups=torch.arange(4)).item() == pytest.approx(nt_xent(a, b, 0.2).item())
    z = F.normalize(torch.cat((a, b)), dim=-1).double()
    gg = torch.cat((groups, groups))
    total = 0.0
    for i in range(8):
        p = (i + 4) % 8
        keep = [j for j in range(8) if j != i and (j == p or gg[j] != gg[i])]
        denom = sum(math.exp(float(z[i] @ z[j]) / 0.2) for j in keep)
        total += -math.log(math.exp(float(z[i] @ z[p]) / 0.2) / denom)
    assert nt_xent(a, b, 0.2, groups=groups).item() == pytest.approx(total / 8, rel=1e-5)
    sharded = [nt_xent(a[i : i + 2], b[i : i + 2], 0.2, a, b, offset=i, groups=groups) for i in (0, 2)]
    assert torch.stack(sharded).mean().item() == pytest.approx(total / 8, rel=1e-5)


def test_nt_xent_matches_reference():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    assert nt_xent(a, b, 0.2).item() == pytest.approx(_reference_nt_xent(a, b, 0.2), rel=1e-5)


def test_nt_xent_sharded_rows_average_to_the_full_loss():
    # What DDP computes: each rank's rows against all columns; the mean over ranks is the loss.
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    full = nt_xent(a, b, 0.1)
    shards = [nt_xent(a[i : i + 3], b[i : i + 3], 0.1, a, b, offset=i) for i in (0, 3)]
    assert torch.stack(shards).mean().item() == pytest.approx(full.item(), rel=1e-6)


def test_nt_xent_low_for_matched_views_high_for_shuffled():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(16, 32, generator=g)
    b = a + 0.05 * torch.randn(16, 32, generator=g)
    assert nt_xent(a, b, 0.1) < 0.1
    assert nt_xent(a, b[torch.randperm(16, generator=g)], 0.1) > 2.0


def _clustered(seed: int, k: int = 4, per: int = 16, d: int = 8, spread: float = 0.6) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(k, d, generator=g), dim=-1)
    return (centres.repeat_interleave(per, 0) + spread * torch.randn(k * per, d, generator=g)), k


def _within_cluster_spread(u: torch.Tensor, labels: torch.Tensor) -> float:
    total = 0.0
    for c in labels.unique():
        pts = u[labels == c]
        total += float(((pts - pts.mean(0)) ** 2).sum())
    return total / u.shape[0]


def _kmeans_inertia(u: torch.Tensor, k: int) -> float:
    c = spherical_kmeans(u, k, generator=torch.Generator().manual_seed(0))
    return _within_cluster_spread(u, (u @ c.T).argmax(1))


@pytest.mark.parametrize("mode", ["ema", "batch"])
def test_kmeans_loss_lowers_within_cluster_spread(mode):
    x0, k = _clustered(3)
    x = x0.clone().requires_grad_(True)
    loss_fn = KMeansLoss(k=k, dim=x.shape[1], momentum=0.9, mode=mode)
    opt = torch.optim.SGD([x], lr=5.0)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(x)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    u0, u1 = F.normalize(x0, dim=-1), F.normalize(x.detach(), dim=-1)
    # Spread around the clusters the loss settled on, before vs after ...
    labels = (u1 @ loss_fn.centroids.T).argmax(1)
    assert _within_cluster_spread(u1, labels) < 0.3 * _within_cluster_spread(u0, labels)
    # ... and the best k-clustering found independently (k-means inertia) tightens too.
    assert _kmeans_inertia(u1, k) < 0.3 * _kmeans_inertia(u0, k)
    assert losses[-1] < 0.3 * losses[0]
    assert 0.0 <= min(losses) and max(losses) <= 4.0


def test_kmeans_centroids_are_unit_and_state_round_trips():
    x, k = _clustered(4)
    loss_fn = KMeansLoss(k=k, dim=x.shape[1])
    loss_fn(x)
    loss_fn(x)
    assert torch.allclose(loss_fn.centroids.norm(dim=1), torch.ones(k), atol=1e-5)
    clone = KMeansLoss(k=k, dim=x.shape[1])
    clone.load_state_dict(loss_fn.state_dict())
    assert torch.equal(clone(x), loss_fn(x))
    assert torch.equal(clone.centroids, loss_fn.centroids)


def test_hull_loss_raises_convex_hull_volume():
    # Points in a small cap of the 3-sphere: the hull loss should open them up.
    g = torch.Generator().manual_seed(5)
    x0 = torch.tensor([0.0, 0.0, 1.0]) + 0.15 * torch.randn(40, 3, generator=g)
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.SGD([x], lr=0.05)
    u0 = F.normalize(x0, dim=-1).numpy()
    vol_before = ConvexHull(u0).volume
    pdist_before = torch.pdist(torch.from_numpy(u0)).mean().item()
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = hull_loss(x)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    u1 = F.normalize(x.detach(), dim=-1).numpy()
    assert ConvexHull(u1).volume > 3 * vol_before
    assert torch.pdist(torch.from_numpy(u1)).mean().item() > pdist_before
    lo, hi = hull_loss_bounds(40, 3)
    assert all(lo <= v <= hi for v in losses)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("m,d", [(64, 8), (8, 64)])
def test_hull_loss_bounded_at_collapse_and_spread(m, d):
    lo, hi = hull_loss_bounds(m, d)
    collapsed = torch.ones(m, d)
    assert hull_loss(collapsed).item() == pytest.approx(hi, rel=1e-4)
    g = torch.Generator().manual_seed(6)
    spread = hull_loss(torch.randn(m, d, generator=g)).item()
    assert lo <= spread < hi
    # Scaling an embedding does not change it: the loss lives on the sphere.
    z = torch.randn(m, d, generator=g)
    assert hull_loss(z).item() == pytest.approx(hull_loss(100 * z).item(), rel=1e-4)


def test_hull_gram_and_covariance_forms_have_the_same_gradient():
    # M < d uses YYᵀ; check against the d × d covariance (Sylvester's determinant identity).
    g = torch.Generator().manual_seed(7)
    z = torch.randn(6, 10, generator=g, dtype=torch.float64, requires_grad=True)
    hull_loss(z).backward()
    grad_gram = z.grad.clone()
    z.grad = None
    u = F.normalize(z, dim=-1)
    y = u - u.mean(0)
    cov = y.T @ y / 6
    (-torch.logdet(cov + 1e-3 * torch.eye(10, dtype=torch.float64)) / 6).backward()
    assert torch.allclose(grad_gram, z.grad, atol=1e-6)


def test_three_losses_combine():
    g = torch.Generator().manual_seed(8)
    a = torch.randn(16, 8, generator=g, requires_grad=True)
    b = (a.detach() + 0.3 * torch.randn(16, 8, generator=g)).requires_grad_(True)
    km = KMeansLoss(k=4, dim=8, seed=1)
    terms = {
        "nce": nt_xent(a, b, 0.1),
        "kmeans": km(torch.cat((a, b))),
        "hull": hull_loss(torch.cat((a, b))),
    }
    total = terms["nce"] + 0.5 * terms["kmeans"] + 0.25 * terms["hull"]
    total.backward()
    assert torch.isfinite(total)
    assert a.grad is not None and torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    # Each term contributes its own gradient: dropping one changes the total gradient.
    for name in terms:
        a2 = a.detach().clone().requires_grad_(True)
        b2 = b.detach().clone()
        km2 = KMeansLoss(k=4, dim=8, seed=1)
        parts = {
            "nce": nt_xent(a2, b2, 0.1),
            "kmeans": 0.5 * km2(torch.cat((a2, b2))),
            "hull": 0.25 * hull_loss(torch.cat((a2, b2))),
        }
        sum(v for k, v in parts.items() if k != name).backward()
        assert not torch.allclose(a2.grad, a.grad)
    # Optimising the sum lowers it.
    x = torch.cat((a, b)).detach().clone().requires_grad_(True)
    km3 = KMeansLoss(k=4, dim=8, seed=1)
    opt = torch.optim.Adam([x], lr=0.05)
    history = []
    for _ in range(40):
        opt.zero_grad()
        loss = nt_xent(x[:16], x[16:], 0.1) + 0.5 * km3(x) + 0.25 * hull_loss(x)
        loss.backward()
        opt.step()
        history.append(loss.item())
    assert np.mean(history[-5:]) < np.mean(history[:5])
