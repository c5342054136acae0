"""The ``mappa-hub`` command line for operators."""
