"""Figures of models and training runs."""
