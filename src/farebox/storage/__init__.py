"""Persistence: SQLAlchemy Core tables, the engine, and the repository used by services."""
