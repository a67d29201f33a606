import pytest

# Several test modules import it and also load it as a plugin: registered before its first
# import, its asserts are rewritten and pytest has nothing to warn about.
pytest.register_assert_rewrite("tests.layers_fixtures")
