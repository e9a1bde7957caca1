"""The operator's /admin/v1 routes."""
