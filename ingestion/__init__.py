"""Reading, validating and loading landing files into the warehouse (no Dagster here)."""
