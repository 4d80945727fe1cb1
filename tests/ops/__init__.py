"""The op families' test tables: one module per family of ``cnnpy.functional`` and its layers,
mirroring ``csrc/<family>.c``. A family module holds every case of its ops for every suite, as
lists the suites gather across families with ``gather``:

- ``TORCH`` (test_torch.py), ``REFERENCE`` and ``REFERENCE_TORCH`` (test_reference.py),
  ``GRADCHECK`` (test_gradcheck.py): functions that run one comparison;
- ``ERRORS``, ``HUGE_SIZES``, ``EMPTY``, ``FAILING``, ``LAYOUTS``, ``NAN_INF`` (test_errors.py):
  calls and what they must give;
- ``LAYERS`` (test_nn.py);
- ``SLOW`` and ``calls(rng, n, c, h, rows)`` (test_reliability.py): the family's engine calls.

A family leaves out the lists it has nothing for; every id names its op (or optimizer) first.
tests/README.md says what an entry of each list is and where a new test goes.
"""
from . import (activation, conv, conv_transpose, dropout, linear, losses, optim, pad, pool, resize,
               shapes, softmax)

FAMILIES = [conv, conv_transpose, pool, pad, resize, linear, activation, softmax, dropout, losses,
            optim, shapes]


def gather(table):
    """Every family's entries of one list (``"TORCH"``, ``"ERRORS"``, ...), in family order."""
    return [entry for family in FAMILIES for entry in getattr(family, table, ())]
