"""`import eexp_engine.executionware.proactive_helper as ph`, as some ExtremeXP scripts write it,
served by xxp-tui's helper when the real eexp_engine is not installed."""
