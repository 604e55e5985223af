"""The refusal tables' check: each case's constructor call raises ValueError naming what it refuses."""

import pytest


def refusal_test(cases):
    """A test, one case per entry of `cases` ({id: (make, match)}): make() raises ValueError whose
    message matches the regular expression `match` (re.search). Bind it to a test_ name in the module."""
    @pytest.mark.parametrize("make, match", list(cases.values()), ids=list(cases))
    def test(make, match):
        with pytest.raises(ValueError, match=match):
            make()

    return test
