"""Models trained by tfdl and shipped with it (see README.md here)."""
