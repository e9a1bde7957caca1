"""The operator service layer, shared by the CLI and the admin API."""
