"""One module per Keras backend, each with the same names; `mnist_cnn.backend` imports the one Keras runs on.

Each module imports its backend's library: import it only where that library is installed (the dispatch does).
"""
