"""Weights for the graph `models` builds: PyTorch checkpoints, the hub, Keras files.

    torch_zip      `torch.save` zip checkpoints read without PyTorch, nothing executed
    checkpoints    the official, Hugging Face and timm layouts, mapped onto Keras variables
    hub            the ImageNet checkpoints on the Hugging Face hub: cache and download
    keras_files    `.weights.h5` read and written strictly; `.keras` files loaded
    sources        what `weights=` can name, resolved into weights for a model not yet built

`python -m swiftformer_keras.convert_weights` is the command line over `sources`.
"""
