"""How programs print: index form, LaTeX and matrix notation."""
