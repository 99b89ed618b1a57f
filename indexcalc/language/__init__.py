"""The language: text to a checked program (parse, check), its SymPy vocabulary, functions and names."""
