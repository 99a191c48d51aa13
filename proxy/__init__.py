"""Wattgate: an OpenAI-compatible gateway that meters the energy, emissions and water of every call."""

__version__ = "0.1.0"
