"""examples collection."""
