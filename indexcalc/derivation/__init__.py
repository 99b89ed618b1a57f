"""The derivation pipeline: assemble the backward, prove it, hold the result."""
