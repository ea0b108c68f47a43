"""LeNet builder: shapes for any input size / channels, the classic parameter count, bad input."""

import numpy as np
import pytest

from tfinpaint.errors import InputError
from tfinpaint.models import lenet
from tfinpaint.models.lenet import LeNetConfig

WIDTH = LeNetConfig().width  # the default lives in the config only


@pytest.mark.parametrize("shape,classes", [((28, 28, 1), 10), ((48, 42, 1), 38),
                                           ((64, 64, 3), 196), ((12, 12, 1), 2)])
def test_output_shape(shape, classes):
  model = lenet.build(shape, classes, width=WIDTH)
  x = np.random.default_rng(0).uniform(-1, 1, (3, *shape)).astype(np.float32)
  logits = np.asarray(model(x))
  assert logits.shape == (3, classes)
  assert np.all(np.isfinite(logits))
  assert model.name == "lenet"


def test_classic_lenet5_parameter_count():
  # conv1 5*5*1*6+6, conv2 5*5*6*16+16, fc 400*120+120, 120*84+84, 84*10+10.
  expected = 156 + 2416 + 48120 + 10164 + 850
  assert LeNetConfig().build((28, 28, 1), 10)["model"].count_params() == expected
  assert lenet.build((28, 28, 1), 10, width=1.0).count_params() == expected


def test_width_scales_every_layer():
  model = lenet.build((28, 28, 1), 10, width=0.5)
  configs = [model.get_layer(n).get_config() for n in ("conv1", "conv2", "fc1", "fc2", "logits")]
  units = [c.get("filters") or c["units"] for c in configs]
  assert units == [3, 8, 60, 42, 10]


def test_logits_are_not_softmaxed():
  model = lenet.build((28, 28, 1), 10, width=WIDTH)
  logits = np.asarray(model(np.ones((2, 28, 28, 1), np.float32) * 0.5))
  assert not np.allclose(logits.sum(axis=1), 1.0)


@pytest.mark.parametrize("kwargs", [dict(image_shape=(11, 28, 1)), dict(image_shape=(28, 28)),
                                    dict(num_classes=1), dict(width=0.0)])
def test_bad_arguments(kwargs):
  kwargs = dict(dict(image_shape=(28, 28, 1), num_classes=10, width=WIDTH), **kwargs)
  with pytest.raises(InputError):
    lenet.build(**kwargs)


@pytest.mark.parametrize("width", [0.0, -1.0, 17.0])
def test_config_range_checked(width):
  with pytest.raises(ValueError, match="width"):
    LeNetConfig(width=width)
