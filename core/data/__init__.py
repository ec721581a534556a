"""Training data for the colourisation networks (procedurally generated cel shots)."""
