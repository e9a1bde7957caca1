"""Wire formats only: no logic of ours, and no imports of ours."""
