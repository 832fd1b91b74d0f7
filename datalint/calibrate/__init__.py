"""calibrate: measure what a cohort really does to the model and learn to predict it."""
