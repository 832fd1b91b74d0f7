"""``datalint loop``: the online loop. Each round, every arm scores K fresh cohorts against its
own current weights, trains its pick with GRPO (weights persist across rounds), measures the
probe NLL and learns from the realised lift of its own runs."""
