"""Keras 3 model builders (DCGAN, GoogLeNet, LeNet); they know nothing of training."""
