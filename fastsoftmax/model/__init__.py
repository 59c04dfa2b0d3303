"""The classifier, the image pipeline and its steps."""
