"""CNN baselines (TensorFlow/Keras) behind the scikit-learn estimator API.

`classifiers.cnn.models`: the architectures (`liveness_net`, `seed_cnn`).
`classifiers.cnn.training`: seeding, the seed project's augmentation, tf.data input.
`classifiers.cnn.estimator`: `CNNClassifier`, the last step of a CNN method's pipeline.
Importing this package does not import TensorFlow; its modules do.
"""
