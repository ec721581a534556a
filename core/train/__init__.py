"""Training-time pieces: the frozen VGG feature extractor and the loss terms of the paper's
section 3.4 (eqs. 6-11)."""
