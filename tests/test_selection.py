"""The n -> 0 selection rule on small hand-made cases whose answer is known."""
import numpy as np
import pytest

from symbolic_rg.errors import ParameterError
from symbolic_rg.replica.selection import (CONJUGATE, NISHIMORI, OVERLAP, SINGLE_REPLICA, longitudinal_eigenvalues,
                                   physical_index, reduced_hessian, wrong_directions)


def test_direction_of_each_kind():
    points = [[0.0], [0.5]]
    assert physical_index([1.69, 1.58], points, [OVERLAP]) == 1           # SK below T_c: the infimum
    assert physical_index([1.69, 1.58], points, [NISHIMORI]) == 0         # Bayes-optimal: the maximum
    # min-max: (m, q) with m maximized and q minimized; at m = 0 two points compete by the minimum, then the max
    phi = [1.0, 0.8, 0.9]
    assert physical_index(phi, [[0.0, 0.1], [0.0, 0.4], [0.7, 0.2]], [SINGLE_REPLICA, OVERLAP]) == 2
    assert physical_index([0.95, 0.85, 0.8], [[0.0, 0.1], [0.0, 0.4], [0.7, 0.2]], [SINGLE_REPLICA, OVERLAP]) == 1
    with pytest.raises(ParameterError, match="finite"):
        physical_index([np.nan], [[0.0]], [OVERLAP])
    with pytest.raises(ParameterError, match="kinds"):
        physical_index([1.0], [[0.0]], ["overlap"])


def test_longitudinal_orientation_and_wrong_directions():
    assert np.all(longitudinal_eigenvalues(np.diag([2.0, 3.0]), [OVERLAP, OVERLAP]) < 0)   # a minimum: stable
    assert np.all(longitudinal_eigenvalues(np.diag([-2.0, -3.0]), [NISHIMORI] * 2) < 0)    # a maximum: stable
    # max over u of min over d: H_dd = -0.5 is a maximum in the overlap at fixed u, so not the rule's extremum
    H = np.array([[-1.0, 1.0], [1.0, -0.5]])
    kinds = [SINGLE_REPLICA, OVERLAP]
    assert np.max(longitudinal_eigenvalues(H, kinds)) > 0 and len(wrong_directions(H, kinds)) == 2
    H = np.array([[-1.0, 0.2], [0.2, 0.5]])                         # min in d, then the max of that min in u
    np.testing.assert_allclose(longitudinal_eigenvalues(H, kinds), [-1 - 0.04 / 0.5, -0.5])
    assert wrong_directions(H, kinds) == []
    # a conjugate is eliminated by its own equation: phi = -q^2 + 2 q qh - qh^2 / 2 has extr_qh = q^2, a minimum
    H = np.array([[-2.0, 2.0], [2.0, -1.0]])
    np.testing.assert_allclose(reduced_hessian(H, [OVERLAP, CONJUGATE]), [[2.0]])
    assert longitudinal_eigenvalues(H, [OVERLAP, CONJUGATE])[0] == pytest.approx(-2.0)
