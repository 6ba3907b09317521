"""The package version, in one place (the run record and ``ezpipe --version`` read it)."""

__version__ = "0.1.0"
