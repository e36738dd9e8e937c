"""Training and evaluating on image folders: the stage after the weights, a sibling of `lite`.

    image_folder   folders and their batches of preprocessed images (no Keras)
    config         TrainConfig and the one table of its settings and flags (no Keras)
    evaluation     the loop that scores any predictor, Keras or .tflite (no Keras)
    dataset        the batches as a Keras PyDataset
    distillation   the model a run fits: the student, or student and teacher, with loss and metrics
    resume         the run folder's checkpoints, and where an interrupted run resumes
    loop           the fit: recipe, precision, data parallelism, the final model

The command lines over them are `swiftformer_keras.train` and `swiftformer_keras.evaluate`.
"""
