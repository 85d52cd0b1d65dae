"""Simulation of real finite networks: the validations every theory is checked against.

Owns the samplers of the Gibbs posterior over the weights (blocked Gibbs, Langevin) of every family's networks, and
Monte Carlo over networks from the prior (their kernels, NTK and dNTK).
"""
from .ntk import NTKSamples, NTKStatistics, network_ntk, ntk_statistics, sample_ntk
from .prior import PriorStatistics, prior_network_statistics
from .samplers import (PosteriorSamples, activation_functions, conv_log_posterior, deep_linear_log_posterior,
                       gibbs_attention, gibbs_conv, gibbs_deep_linear, gibbs_gated, jackknife, mala, mala_conv,
                       mala_deep_linear, mala_network, network_log_posterior, regression_draw)

__all__ = ["PosteriorSamples", "gibbs_deep_linear", "gibbs_gated", "gibbs_conv", "gibbs_attention", "mala",
           "mala_network", "mala_deep_linear", "mala_conv", "network_log_posterior", "deep_linear_log_posterior",
           "conv_log_posterior", "activation_functions", "jackknife", "PriorStatistics", "prior_network_statistics",
           "regression_draw", "NTKSamples", "NTKStatistics", "network_ntk", "sample_ntk", "ntk_statistics"]
