"""xxp-tui viewer."""
