"""See eexp_engine/__init__.py."""
