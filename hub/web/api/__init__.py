"""The JSON API for agency systems (``/api/v1``)."""
