"""Make a contracted derivative read as a person writes it: cancel, tidy, shared subexpressions, letters."""
