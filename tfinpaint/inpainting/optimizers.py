"""Nesterov momentum as a pure function of tensors.

Why not a Keras optimizer: inpainting runs inside one tf.function as a tf.while_loop whose
state is loop tensors (DESIGN.md: no tf.Variable is written while inpainting, so the
procedure is re-entrant, batch-independent and exportable). A Keras optimizer owns
variables; this function owns nothing.

The update is the one Keras' SGD(nesterov=True) and TF's MomentumOptimizer(use_nesterov=True)
perform (Sutskever et al. 2013 rewritten in terms of the look-ahead point):

    v <- momentum * v - lr * grad
    z <- z + momentum * v - lr * grad

It is algebraically identical to the form of the reference inpainting code
(v_prev = v; v = m v - lr g; z += -m v_prev + (1 + m) v). Clipping z to [-1, 1] is the
inpainter's job, not the optimiser's. Works on tensors and numpy arrays alike.
"""


def nesterov_step(z, velocity, grad, lr=0.01, momentum=0.9):
  """One Nesterov momentum step.

  Args:
    z: parameters (any shape).
    velocity: momentum buffer, same shape (zeros at the first step).
    grad: gradient of the loss at z, same shape.
    lr: learning rate (python float or scalar tensor).
    momentum: momentum coefficient.

  Returns:
    (new_z, new_velocity).
  """
  velocity = momentum * velocity - lr * grad
  z = z + momentum * velocity - lr * grad
  return z, velocity
