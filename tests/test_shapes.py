"""Output-size helpers: values agree with the kernels' output shapes, and explain=True renders the
formula with the numbers substituted."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import cnnpy
import cnnpy.functional as F
import reference as ref


def test_conv_output_size_explains_itself():
    assert cnnpy.conv_output_size(91, 3, padding=1, explain=True) == "floor((91 + 2*1 - 3) / 1) + 1 = 91"
    assert cnnpy.conv_output_size(10, 3, stride=2, padding=(1, 0), explain=True) == "floor((10 + 1 + 0 - 3) / 2) + 1 = 5"
    assert cnnpy.conv_output_size(10, 3, dilation=2, explain=True) == "floor((10 + 2*0 - 2*(3-1) - 1) / 1) + 1 = 6"
    assert cnnpy.conv_output_size(91, 3, stride=2, padding="same", explain=True) == \
        "padding='same' -> 1 + 1; floor((91 + 2*1 - 3) / 2) + 1 = 46"
    assert cnnpy.conv_output_size((91, 45), 3, padding=1) == (91, 45)
    assert cnnpy.conv_output_size((8, 8), (3, 1), stride=(2, 1), explain=True).count("\n") == 1


def test_transpose_and_pool_explain():
    assert cnnpy.conv_transpose_output_size(22, 3, stride=2, explain=True) == "(22 - 1)*2 + 3 - 2*0 = 45"
    assert cnnpy.conv_transpose_output_size(4, 4, stride=2, padding=1, output_padding=1, explain=True) == \
        "(4 - 1)*2 + 4 - 2*1 + 1 = 9"
    assert cnnpy.pool_output_size(91, 2, explain=True) == "floor((91 + 2*0 - 2) / 2) + 1 = 45"
    assert cnnpy.pool_output_size(5, 2, ceil_mode=True, explain=True) == "ceil((5 + 2*0 - 2) / 2) + 1 = 3"
    text = cnnpy.pool_output_size(5, 2, stride=2, padding=1, ceil_mode=True, explain=True)
    assert text == "ceil((5 + 2*1 - 2) / 2) + 1 = 4, minus the last window, which would start in the right padding, = 3"


def test_same_padding_rule():
    assert cnnpy.same_padding(91, 3) == (1, 1)
    assert cnnpy.same_padding(10, 4) == (1, 2)           # the odd pixel at the end
    assert cnnpy.same_padding(91, 3, stride=2) == (1, 1)
    assert cnnpy.same_padding(8, 3, stride=2) == (0, 1)
    assert cnnpy.same_padding(5, 1, stride=4) == (0, 0)


def test_impossible_geometry_quotes_the_formula():
    with pytest.raises(ValueError, match=r"floor\(\(2 \+ 2\*0 - 5\) / 1\) \+ 1 < 1"):
        cnnpy.conv_output_size(2, 5)
    with pytest.raises(ValueError, match="half the kernel"):
        cnnpy.pool_output_size(5, 2, padding=2)
    with pytest.raises(ValueError, match="output_padding"):
        cnnpy.conv_transpose_output_size(5, 3, stride=2, output_padding=2)


@given(n=st.integers(1, 60), k=st.integers(1, 7), s=st.integers(1, 5), p=st.integers(0, 4), d=st.integers(1, 3))
def test_sizes_match_the_ops(n, k, s, p, d):
    x = np.zeros((1, 1, n))
    if n + 2 * p >= d * (k - 1) + 1:
        assert cnnpy.conv_output_size(n, k, s, p, d) == F.conv1d(x, np.zeros((1, 1, k)), stride=s, padding=p, dilation=d).shape[-1]
        if p <= k // 2:
            for ceil in (False, True):
                want = ref.pool_out_len(n, k, s, p, d, ceil)
                assert cnnpy.pool_output_size(n, k, s, p, d, ceil) == want
                assert F.max_pool1d(x, k, s, p, d, ceil).shape[-1] == want
    for op in range(max(s, d)):
        full = (n - 1) * s + d * (k - 1) + op + 1
        if full - 2 * p >= 1:
            got = cnnpy.conv_transpose_output_size(n, k, s, p, op, d)
            assert got == full - 2 * p
            y = F.conv_transpose1d(x, np.zeros((1, 1, k)), stride=s, padding=p, output_padding=op, dilation=d)
            assert y.shape[-1] == got
