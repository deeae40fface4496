"""flow collection."""
