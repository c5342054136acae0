"""Storage: SQLAlchemy Core over SQLite (default) or PostgreSQL. Knows nothing of HTTP or policy."""
