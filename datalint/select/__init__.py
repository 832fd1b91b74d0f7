"""The select stage: the check's verdicts -> which rows to keep, written in their own layout."""
