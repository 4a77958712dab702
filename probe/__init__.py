"""probe: active benchmarking of hosted LLM APIs."""

__version__ = "0.1.0"
