"""The folk-music generator: ABC corpus, vocabulary, data pipeline, generation."""
