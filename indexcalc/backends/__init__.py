"""Array backends: NumPy, PyTorch, JAX and Numba, printed from the lowering IR."""
