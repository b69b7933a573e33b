"""shoekit: shoe-type recognition and retrieval with attention ResNet50 (Zhang, Tang et al., 2022)."""

__version__ = "0.1.0"
