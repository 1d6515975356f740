"""Conformance tests of the AUTH requirements (ЕСИА sign-in, specs/requirements.yaml)."""
