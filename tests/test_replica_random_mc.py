"""Monte Carlo of the deep perceptron in the random scenario: random data, two chains on the same data, their
per-layer overlaps (gauge-aligned and gauge-invariant), and the margin kappa in the slice-move kernel."""
import numpy as np
import pytest

from symbolic_rg.replica.monte_carlo import (forward, gauged, metropolis_sweeps, on_sphere, pair_overlaps,
                                             random_data, replica_overlaps, violations)

L, N, c = 3, 12, 4


def data_(alpha=1.0, kappa=0.0, seed=0):
    return random_data(L, N, c, alpha, np.random.default_rng(seed), kappa=kappa)


def test_random_data_shapes_and_labels():
    d = random_data(4, 30, 6, 2.5, np.random.default_rng(1), n_test=50)
    M = 15
    assert d.S0.shape == d.y.shape == (M, 30) and d.X.shape == (50, 30)
    assert d.graph.weights.shape == d.graph.inputs.shape == (4, 30, 6) and d.q2_null.shape == (3,)
    for a in (d.S0, d.y, d.X):
        assert set(np.unique(a)) == {-1.0, 1.0}
    assert abs(d.y.mean()) < 0.15 and abs(np.mean(d.y * d.S0)) < 0.15      # labels balanced, unrelated to inputs
    assert np.all(d.q2_null > 1 / M) and np.all(d.q2_null < 1)             # 1/M and the finite-c overlap of units
    with pytest.raises(ValueError, match="kappa must be >= 0"):
        random_data(2, 10, 3, 1.0, np.random.default_rng(0), kappa=-0.1)


def test_chains_start_and_stay_consistent():
    d = data_()
    r = replica_overlaps(d, 400, np.random.default_rng(2))
    assert r.start == "independent" and r.sweeps == 400 and r.trace.shape == (40, 5 * L - 3)
    for J in r.weights:
        S = forward(J, d.graph.inputs, d.S0)
        assert np.array_equal(S[L], d.y) and np.allclose(np.sum(J ** 2, axis=2), c)
    assert not np.array_equal(*r.weights)
    again = replica_overlaps(d, 400, np.random.default_rng(3), start=r.weights)       # continues both chains
    assert again.start == "given"
    bad = on_sphere(np.random.default_rng(4).standard_normal((L, N, c)))
    with pytest.raises(ValueError, match="violates .* constraints"):
        replica_overlaps(d, 400, np.random.default_rng(3), start=(bad, r.weights[1]))


def test_overlap_with_itself_and_with_a_gauge_copy_is_one():
    d = data_(alpha=2.0)
    rng = np.random.default_rng(5)
    J = on_sphere(rng.standard_normal((L, N, c)))
    S = forward(J, d.graph.inputs, d.S0)
    row = pair_overlaps(J, S, J, S, d)
    assert np.allclose(row[:4 * L - 2], 1.0) and np.all(row[4 * L - 2:] == 0)
    sigma = np.ones((L + 1, N))
    sigma[1:L] = rng.choice([-1.0, 1.0], size=(L - 1, N))                   # flip about half of the hidden units
    Jf = gauged(J, d.graph.inputs, sigma)
    Sf = forward(Jf, d.graph.inputs, d.S0)
    assert np.array_equal(Sf[L], S[L]) and not np.array_equal(Jf, J)      # the same function, other weights
    assert np.mean(np.sum(J * Jf, axis=2) / c) < 0.5                       # unaligned, the copy looks far away
    row = pair_overlaps(J, S, Jf, Sf, d)
    assert np.allclose(row[:4 * L - 2], 1.0, atol=1e-12)
    assert np.allclose(row[4 * L - 2:], np.mean(sigma[1:L] < 0, axis=1))  # the flips found


def test_invariant_estimator_vanishes_for_independent_networks():
    """Q2, q2 of pairs of independent random networks average to 0 within 3 standard errors; the aligned Q of the
    same pairs sits near sqrt(2 / (pi c)), many errors above 0 (the bias the invariant estimator removes)."""
    d = random_data(3, 40, 8, 2.0, np.random.default_rng(6))
    rng = np.random.default_rng(7)
    nets = [on_sphere(rng.standard_normal((3, 40, 8))) for _ in range(120)]
    rows = np.array([pair_overlaps(A, forward(A, d.graph.inputs, d.S0), B, forward(B, d.graph.inputs, d.S0), d)
                     for A, B in zip(nets[::2], nets[1::2])])
    mean, err = rows.mean(axis=0), rows.std(axis=0, ddof=1) / np.sqrt(len(rows))
    invariant = slice(5, 10)
    assert np.all(np.abs(mean[invariant]) < 3 * err[invariant]), (mean[invariant], err[invariant])
    assert abs(mean[0] - np.sqrt(2 / (np.pi * 8))) < 0.05 and mean[0] > 10 * err[0]


def test_margin_kernel_keeps_its_count_and_the_chains_their_margins():
    Lk, Nk, ck, kappa = 3, 20, 8, 0.3
    d = random_data(Lk, Nk, ck, 0.5, np.random.default_rng(8), kappa=kappa)
    g, rng = d.graph, np.random.default_rng(9)
    J = on_sphere(rng.standard_normal((Lk, Nk, ck)))
    S = forward(J, g.inputs, d.S0)
    E = np.array([violations(J, g.inputs, S, d.y, kappa)])
    assert E[0] > violations(J, g.inputs, S, d.y)                            # fields below the margin count too
    for k in range(10):                                                      # threshold accepting, then tempered
        metropolis_sweeps(J, g.inputs, *g.readers, S, d.y, 3, k, np.zeros(1, np.int64), E, int(0.8 * E[0]),
                          np.inf if k < 5 else 2.0, kappa)
        assert np.array_equal(S, forward(J, g.inputs, d.S0)) and E[0] == violations(J, g.inputs, S, d.y, kappa)
    r = replica_overlaps(d, 400, rng, start="same")
    for J in r.weights:
        S = forward(J, g.inputs, d.S0)
        h = np.stack([np.einsum("mik,ik->mi", S[l][:, g.inputs[l]], J[l]) for l in range(Lk)]) / np.sqrt(ck)
        assert np.all(S[1:] * h >= kappa) and np.array_equal(S[Lk], d.y)
    assert not np.array_equal(*r.weights)


def test_bad_arguments():
    d = data_()
    with pytest.raises(ValueError, match="start must be"):
        replica_overlaps(d, 400, np.random.default_rng(0), start="teacher")
    with pytest.raises(ValueError, match="sweeps - burn_in"):
        replica_overlaps(d, 100, np.random.default_rng(0))
