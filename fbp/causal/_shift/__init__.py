"""The shift question: which mechanism changes explain a target's change between runs."""
