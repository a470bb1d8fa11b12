"""The pipeline's stages: each commits its rows together with its cursor."""
