"""io collection."""
