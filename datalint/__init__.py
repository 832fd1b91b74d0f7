"""datalint: lint RL post-training data for the lift it will give a model, before training."""

__version__ = "0.1.0"
