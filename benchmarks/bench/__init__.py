"""
The side-by-side benchmark harness (issue 7): virtd against the reference.

One command runs it: C{.venv/bin/python benchmarks/run.py} (see
C{benchmarks/README.md}). The package is split by job:

  - L{bench.stats}: medians, percentiles, ratios, targets;
  - L{bench.daemons}: a private C{twistd -n virtd} beside
    C{tests.support.RealLibvirtd}, and C{/proc} readers (CPU, RSS);
  - L{bench.loadgen}: the load generator, run as a child process so the
    client's work never shares a GIL with the harness;
  - L{bench.runner}: starts load generators and drives their
    READY/GO/RESULT line protocol;
  - L{bench.cases}: the cases D1-D4, C1, C2, X1;
  - L{bench.report}: the table, the chart and the docs fragment.

It lives in a sub-directory so that C{make bench} (which runs
C{benchmarks/*.py}) does not mistake the modules for scripts.
"""
