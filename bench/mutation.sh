#!/usr/bin/env bash
# Mutation pass over the modules that decide a verdict (not in CI: minutes per module on 2 cores).
#
#   bench/mutation.sh                        # every module in [tool.mutmut] only_mutate
#   bench/mutation.sh 'datalint.engine.*'    # only the mutants whose names match (module by module)
#   bench/mutation.sh --table                # print the table of what mutants/ holds, run nothing
#
# mutmut copies the tree to mutants/, maps each mutated function to the selected tests that run it
# (its "stats" step), and runs only those per mutant. Results accumulate in mutants/ across runs
# (FRESH=1 starts over). Prints killed / survived / no tests / other per module and the score
# killed / (killed + survived); `mutmut show NAME` shows a survivor. Environment: VENV (default
# .venv), CHILDREN (parallel mutants, default 2), LIMIT_S (wall-clock bound per run, default 3600).
set -euo pipefail
cd "$(dirname "$0")/.."
py="${VENV:-.venv}/bin"
if [[ "${1:-}" != "--table" ]]; then
  [[ "${FRESH:-0}" == 1 ]] && rm -rf mutants
  OMP_NUM_THREADS=1 PYTHONPATH= timeout "${LIMIT_S:-3600}" \
    "$py/mutmut" run --max-children "${CHILDREN:-2}" "$@" > mutants.log 2>&1 \
    || { tail -40 mutants.log; echo "mutmut run stopped (see mutants.log)"; }
fi
"$py/mutmut" results --all true > mutants.results 2>/dev/null || true
"$py/python" - <<'PY'
import collections

per = collections.defaultdict(collections.Counter)
for line in open("mutants.results", encoding="utf-8"):
    name, _, status = line.strip().rpartition(": ")
    if not name or "__mutmut_" not in name:
        continue
    module = name.split(".x_")[0].split(".xǁ")[0]
    per[module][status] += 1


def row(label, c):
    killed = c["killed"] + c["timeout"]
    scored = killed + c["survived"]
    other = sum(c.values()) - scored - c["no tests"] - c["not checked"]
    score = f"{killed / scored:.1%}" if scored else "-"
    print(f"| {label:28} | {killed:6} | {c['survived']:8} | {c['no tests']:8} "
          f"| {c['not checked']:11} | {other:5} | {score:>6} |")


print(f"| {'module':28} | killed | survived | no tests | not checked | other |  score |")
print(f"|{'-' * 30}|-------:|---------:|---------:|------------:|------:|-------:|")
total = collections.Counter()
for module, c in sorted(per.items()):
    row(module, c)
    total.update(c)
row("all", total)
PY
