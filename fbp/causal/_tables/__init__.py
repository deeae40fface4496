"""From traces to tables: the network's causal graph, units of work, one row per unit."""
