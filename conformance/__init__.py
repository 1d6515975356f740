"""ezhd-conformance: the conformance suite for regional school e-journals (ЭЖД)."""

__version__ = "0.1.0"
