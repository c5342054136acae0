"""MAPPA Hub: a secure information-sharing hub for Multi-Agency Public Protection Arrangements."""

__version__ = "0.1.0"
