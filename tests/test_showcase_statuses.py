"""The showcase status codes are read from specs/openapi/showcase.yaml by key."""
import pytest

from specs import showcase_statuses as st


def test_codes_are_read_by_key_with_their_finality():
    assert (st.code("SUCCESSFULLY_PROCESSED"), st.code("FAILED_PROCESSING"), st.code("FLC_ERROR")) == (3, 4, 7)
    assert st.final_codes() == {3, 4, 5, 7}
    assert st.statuses()[3].success and not st.statuses()[7].success


def test_an_unknown_key_names_the_known_ones():
    with pytest.raises(KeyError, match="SUCCESSFULLY_PROCESSED"):
        st.code("SUCCESS")
