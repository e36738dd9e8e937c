"""SwiftFormer as a KerasHub model family: backbone, image converter, preprocessor and classifier.

The classes follow KerasHub's own families (`keras_hub/src/models/mobilenet/`): importing
their modules registers them with Keras, after which KerasHub's generic loaders
(`keras_hub.models.ImageClassifier.from_preset(folder)`, `Backbone.from_preset`,
`keras_hub.layers.ImageConverter.from_preset`) build them from a preset folder.
`flat_models` converts, weights and all, between them and the flat `keras.Model` that
`swiftformer_keras.SwiftFormer` builds (the form the TFLite converter takes).
"""
