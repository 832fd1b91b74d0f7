"""Rollouts: sampling backends, replay of precomputed rollouts, and the rollout cache."""
