"""The tensor chain rule with Kronecker deltas, and their contraction."""
