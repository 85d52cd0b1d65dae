import numpy as np
import pytest

import symbolic_rg as srg


@pytest.fixture(scope="session")
def theories():
    return {L: srg.derive(srg.deep_linear(L)) for L in (1, 2, 3)}


@pytest.fixture(scope="session")
def solvers(theories):
    return {L: th.compile() for L, th in theories.items()}


def teacher_data(P=40, N0=60, P_test=30, noise=0.2, seed=1):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(N0)
    X = rng.standard_normal((P, N0))
    Xt = rng.standard_normal((P_test, N0))
    return X, X @ w / np.sqrt(N0) + noise * rng.standard_normal(P), Xt, Xt @ w / np.sqrt(N0)


@pytest.fixture(scope="session")
def small_data():
    return teacher_data()
