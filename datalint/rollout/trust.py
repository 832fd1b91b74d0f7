"""Which rollouts count: the trust rule for rollouts that arrive with the data.

Rollouts inline in a data file are the vendor's: completions, logprobs and rewards it claims its
model produced. They are ignored unless the user passes ``--trust-rollouts`` (or sets
``trust-rollouts = true``); then they are replayed, and every reward is still recomputed by the
grading stage (a disagreeing reward is rule RW004). A ``--rollouts FILE`` is the operator's own
(written by ``datalint rollout`` on their GPU box) and needs no flag; it is regraded too.
"""

from __future__ import annotations

TRUST_HINT = "pass --trust-rollouts to replay them (every reward is regraded)"


def untrusted_rollouts_note(n_items: int) -> str:
    noun = "item" if n_items == 1 else "items"
    return (
        f"ignored the rollouts inline in {n_items} {noun}: rollouts that come with the data are "
        f"the vendor's, not evidence from your model; {TRUST_HINT}"
    )
