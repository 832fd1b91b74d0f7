"""Signals computed from graded rollouts: dead-end triage (more of the features will move here)."""
