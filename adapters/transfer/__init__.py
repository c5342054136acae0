"""Case-transfer bundles: signed BagIt bags (RFC 8493) of a case's sealed packets, its sealed
record, its disclosure register and its log entries with proofs. See ``BUNDLE_FORMAT.md``."""
