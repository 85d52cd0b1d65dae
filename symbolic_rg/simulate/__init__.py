"""Simulation of real finite networks: the validations every theory is checked against.

Owns the samplers of the Gibbs posterior over the weights (exact blocked Gibbs for deep linear and gated networks,
Metropolis-adjusted Langevin for any activation) and Monte Carlo over networks drawn from the prior.
"""
from .prior import PriorStatistics, prior_network_statistics
from .samplers import (PosteriorSamples, activation_functions, deep_linear_log_posterior, gibbs_deep_linear,
                       gibbs_gated, jackknife, mala, mala_deep_linear, mala_network, network_log_posterior,
                       regression_draw)

__all__ = ["PosteriorSamples", "gibbs_deep_linear", "gibbs_gated", "mala", "mala_network", "mala_deep_linear",
           "network_log_posterior", "deep_linear_log_posterior", "activation_functions", "jackknife",
           "PriorStatistics", "prior_network_statistics", "regression_draw"]
