"""The steps of a derivation, as a person writes them."""
