"""Datasets for the labs, loaded from files on disk (no download needed)."""
