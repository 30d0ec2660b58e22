"""webtext: WebText-style pretraining corpora from Reddit links, and the GPT-2 that learns from them."""

__version__ = "0.1.0"
