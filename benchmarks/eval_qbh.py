"""Query-by-humming accuracy: MIR-QBSH real queries and POP909 held-out hums.

    python benchmarks/eval_qbh.py --set mirqbsh [--embedder melody] [--backend local] [--json]
    python benchmarks/eval_qbh.py --set pop909

Same as `humsearch eval`. Renders the catalog once into --cache, indexes it into the
index `eval-<set>-<embedder>` of the chosen backend, runs the queries and prints top-1,
top-10, MRR, per-query ranks and latency (and the DTW baseline on MIR-QBSH).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))
