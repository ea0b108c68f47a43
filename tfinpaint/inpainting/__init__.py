"""Inpainting procedures (pure tf.Modules), their losses, optimiser step, blending and baselines."""
