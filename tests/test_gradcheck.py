"""float64 finite-difference checks of every backward function: the GRADCHECK table of every op
family (tests/ops/<family>.py). Each case differentiates L = sum(G * op(inputs)), G random,
numerically with respect to each array argument (central differences, at most 40 random entries
of each unless the case says otherwise) and compares it with the op's own *_backward at
rtol=1e-6, atol=1e-8 (tests/ops/common.py). Inputs stay away from kinks (ReLU at 0, |x - t| at 0,
ties in max pooling)."""
import pytest

import ops


@pytest.mark.parametrize("run", ops.gather("GRADCHECK"))
def test_gradient(run):
    run()
