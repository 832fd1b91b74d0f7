"""Which cohorts each round offers, and the random arm's pick: functions of the seed alone.

Every arm of a seed sees the same draws; a seed's draws never repeat a cohort across rounds.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from datalint.calibrate.hashing import stable_hash


def _rng(*parts: object) -> random.Random:
    return random.Random(int(stable_hash(list(parts)), 16))


def candidate_draws(
    n_cohorts: int, loop_seed: int, rounds: int, candidates: int
) -> list[list[int]]:
    """Pool indices offered in each round: a seeded permutation of the pool cut into rounds.

    The permutation does not depend on ``rounds``, so a loop extended to more rounds keeps the
    draws of the rounds it already ran."""
    if rounds * candidates > n_cohorts:
        raise ValueError(
            f"{rounds} rounds x {candidates} candidates need {rounds * candidates} cohorts "
            f"drawn without replacement, but the pool holds {n_cohorts}"
        )
    order = list(range(n_cohorts))
    _rng("draws", loop_seed, n_cohorts).shuffle(order)
    return [order[r * candidates : (r + 1) * candidates] for r in range(rounds)]


def random_pick(loop_seed: int, round_index: int, n_candidates: int) -> int:
    return _rng("random-arm", loop_seed, round_index).randrange(n_candidates)


def argmax(scores: Sequence[float]) -> int:
    """The highest score's position; NaN ranks last, ties go to the earliest candidate."""
    best, best_value = 0, -math.inf
    for i, value in enumerate(scores):
        v = -math.inf if value is None or math.isnan(value) else float(value)
        if v > best_value:
            best, best_value = i, v
    return best


def pairwise_accuracy(scores: Sequence[float], actual: Sequence[float]) -> float | None:
    """Share of candidate pairs (with distinct realised lifts) that ``scores`` orders as the
    realised lifts do; a tied score counts half. None when no pair can be judged."""
    right, total = 0.0, 0
    for i in range(len(actual)):
        for j in range(i + 1, len(actual)):
            if actual[i] == actual[j]:
                continue
            total += 1
            si, sj = float(scores[i]), float(scores[j])
            if math.isnan(si) or math.isnan(sj) or si == sj:
                right += 0.5
            elif (si > sj) == (actual[i] > actual[j]):
                right += 1.0
    return right / total if total else None
