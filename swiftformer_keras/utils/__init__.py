"""What every stage uses and that knows nothing of SwiftFormer's layers.

cli       the command lines' parser, number and path checks, one-line errors, quiet start-up
files     results that land whole or not at all: temporaries, locks, inputs never overwritten
version   the package version, read from the installed metadata (pyproject.toml is its home)
charts    the one chart module: grouped bars, training curves, a confusion matrix (PNG)
tables    the one Markdown table renderer
images    the ImageNet transform: load, resize, crop, normalise, decode predictions
"""
