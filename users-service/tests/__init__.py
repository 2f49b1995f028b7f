import pytest

# Plain asserts in the shared helpers get pytest's detailed failure messages too.
pytest.register_assert_rewrite("tests.utils")
