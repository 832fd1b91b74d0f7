#!/usr/bin/env bash
# Mutation pass over the modules that decide a verdict (not in CI: minutes to hours on 2 cores).
#
#   bench/mutation.sh                  # every module listed in [tool.mutmut] only_mutate
#   bench/mutation.sh 'datalint.engine*'   # the mutants whose names match a pattern
#
# mutmut copies the tree to mutants/, maps each mutated function to the tests that run it, and
# runs only those per mutant. Prints the score per module; `mutmut show NAME` shows a survivor.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin
rm -rf mutants
OMP_NUM_THREADS=1 PYTHONPATH= "$py/mutmut" run "$@" > mutants.log 2>&1 || { tail -40 mutants.log; exit 1; }
"$py/mutmut" export-cicd-stats >/dev/null 2>&1 || true
"$py/python" - <<'PY'
import collections, subprocess
out = subprocess.run([".venv/bin/mutmut", "results", "--all", "true"], capture_output=True,
                     text=True).stdout
per = collections.defaultdict(collections.Counter)
for line in out.splitlines():
    name, _, status = line.strip().rpartition(": ")
    if not name:
        continue
    module = name.split(".x_")[0].split(".xǁ")[0]
    per[module][status] += 1
total = collections.Counter()
print(f"{'module':40} {'killed':>7} {'survived':>9} {'other':>6} {'score':>6}")
for module, c in sorted(per.items()):
    killed = c["killed"] + c["timeout"]
    other = sum(c.values()) - killed - c["survived"]
    scored = killed + c["survived"]
    total.update(c)
    print(f"{module:40} {killed:7} {c['survived']:9} {other:6} {killed / max(scored, 1):6.1%}")
killed = total["killed"] + total["timeout"]
print(f"{'all':40} {killed:7} {total['survived']:9} {'':6} {killed / max(killed + total['survived'], 1):6.1%}")
PY
