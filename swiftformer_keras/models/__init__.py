"""SwiftFormer as a Keras graph: the stage after `utils`, before any weights.

    architecture   the variants as data (depths, widths, parameters, top-1, GMACs, hub files); no Keras
    op_forms       the TFLite-friendly forms of the computations (GELU, norms, reductions)
    layers         the Keras layers, `EfficientAdditiveAttention` among them
    random_init    realistic random weights for tests and benchmarks
    builders       the functional graph of any config, with fresh weights; MAC counts

The builders with weights (`SwiftFormerXS(weights="imagenet")`, ...) are
`swiftformer_keras.applications`, which reaches `weights` through one seam.
"""
