"""Files: atomic writes, untrusted readers, model files, the feature cache."""
