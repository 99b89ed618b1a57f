"""The lowering IR between the simplified statements and the backends: one graph of array operations."""
