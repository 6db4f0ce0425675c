"""SVM pipelines, CNNs, fusion, saving/loading, and `python -m classifiers.predict`."""
