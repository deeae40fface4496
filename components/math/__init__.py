"""math collection."""
