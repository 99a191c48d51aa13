"""Wattgate: an OpenAI-compatible gateway metering the energy, emissions and water of LLM calls."""

__version__ = "0.1.0"
