"""ViSOR-style nominal records out of and into the hub.

``format``: the versioned JSON Schema shipped in ``schema/`` and every check of a document (the
schema's, by the jsonschema library, and those a schema cannot express), each error by its JSON
path. ``exchange``: export and import through ``hub.services.visor_export`` and
``hub.services.visor`` (the adapter depends on the services, never the other way round).
"""
