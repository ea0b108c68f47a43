"""tfinpaint.benchmark: the references compute what the loops compute; FLOPs; the serving run."""

import dataclasses

import keras
import pytest

from tests import helpers
from tfinpaint import benchmark, measure


@pytest.mark.parametrize("kind", ["classifier", "semantic"])
def test_eager_reference_over_the_same_step_matches_the_loop(kind):
  make = (helpers.tiny_classifier_inpainter if kind == "classifier"
          else helpers.tiny_semantic_inpainter)
  inp = make(epsilon=0.0, blend=False) if kind == "semantic" else make(epsilon=0.0)
  rows, diff, per_iteration = benchmark.bench_loop(inp, images=3, iterations=3, ref_images=2,
                                                   ref_iterations=3)
  assert diff < 1e-5 and per_iteration > 0
  assert rows[0].gflops > 0 and rows[1].note == "reference"
  assert inp.step_flops(2) == 2 * inp.step_flops(1) > 0
  parts = benchmark.profile(inp, 2, repeats=1)
  assert all(v > 0 for v in parts.values()) and len(parts) == len(inp.step_networks(2))


def test_flops_from_layer_shapes():
  image = keras.Input((8, 8, 3))
  x = keras.layers.Conv2D(4, 3, padding="same")(image)  # 8*8*4 outputs x 3*3*3 MACs
  y = keras.layers.Dense(5)(keras.layers.Flatten()(x))  # 256 x 5 MACs
  model = keras.Model(image, y)
  assert measure.forward_flops(model, 2) == 2 * 2 * (8 * 8 * 4 * 27 + 256 * 5)
  z = keras.Input((4,))
  up = keras.layers.Conv2DTranspose(2, 5, strides=2, padding="same")(
      keras.layers.Reshape((1, 1, 4))(z))
  assert measure.forward_flops(keras.Model(z, up), 1) == 2 * 1 * 1 * 4 * 25 * 2


def test_markdown_speedup_against_the_reference():
  rows = [benchmark.Row("b", "batched", 10, 100, 2.0, 1.5),
          benchmark.Row("b", "eager", 1, 10, 1.0, None, "reference")]
  assert rows[0].rate == pytest.approx(500.0) and rows[1].rate == pytest.approx(10.0)
  table = benchmark.markdown(rows)
  assert "| b | batched | 10 | 100 | 2.000 | 500.0 | 50.0x | 1.50 |" in table
  assert "| b | eager | 1 | 10 | 1.000 | 10.0 | 1.0x |  |" in table
  assert benchmark.csv_text(rows).splitlines()[1].startswith('"b","batched",10,100,2.000000')


def test_serving_benchmark_through_tf_servings_loader(tiny_exports):
  rows, curves, facts = benchmark.bench_serving(tiny_exports["classifier"][1], batch_sizes=(1, 2),
                                                iterations=2, long_request=5)
  variants = [(r.benchmark.split()[1], r.variant) for r in rows]
  assert ("serving_default", "first request after load") in variants
  assert ("illumination", "batch 2") in variants
  assert [b for b, _ in curves["serving_default"]] == [1, 2]
  assert facts["warmup_requests"] == 2 and not facts["errors_logged"]
  long = [r for r in rows if r.variant.startswith("1 image, ")]
  assert len(long) == 1 and long[0].images == 1 and 0 < long[0].iterations <= 5


def test_block_size_trade_off_rows(tiny_exports):
  inpainter = tiny_exports["classifier"][0]
  rows = benchmark.bench_blocks(inpainter, block_sizes=(1, 4), long_iterations=3, batch=4,
                                iterations=2)
  assert [(r.benchmark, r.variant, r.images, r.iterations) for r in rows] == [
      ("classifier_guided, block of 1 rows", "1 image, 3 iterations", 1, 3),
      ("classifier_guided, block of 1 rows", "batch 4", 4, 2),
      ("classifier_guided, block of 4 rows", "1 image, 3 iterations", 1, 3),
      ("classifier_guided, block of 4 rows", "batch 4", 4, 2)]
  assert all(r.seconds > 0 for r in rows)
  assert dataclasses.replace(inpainter.config, block_rows=4).block_rows == 4


def test_settings_refuse_unknown_benchmarks():
  with pytest.raises(ValueError, match="benchmarks takes loops, serving, matmul"):
    benchmark.Settings(benchmarks=("classifier",))
  assert benchmark.Settings(batch_size=20).batch_sizes == (1, 8, 20)
