"""The operator's command line (typer)."""
