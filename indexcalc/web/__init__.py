"""The playground page (``indexcalc serve``, README "Playground")."""
