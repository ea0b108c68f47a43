"""tfinpaint.benchmark: the references compute what the loops compute; FLOPs; the serving run."""

import pytest
import tensorflow as tf

from tests import helpers
from tfinpaint import benchmark


@pytest.mark.parametrize("kind", ["classifier", "semantic"])
def test_eager_reference_over_the_same_step_matches_the_loop(kind):
  make = (helpers.tiny_classifier_inpainter if kind == "classifier"
          else helpers.tiny_semantic_inpainter)
  inp = make(epsilon=0.0)
  rows, diff = benchmark.bench_loop(inp, images=3, iterations=3, ref_images=2, ref_iterations=3)
  assert diff < 1e-5
  assert rows[0].gflops > 0 and rows[1].note == "reference"
  assert benchmark.step_flops(inp, 2) > 0


def test_count_flops_of_a_matmul():
  f = tf.function(lambda a, b: tf.matmul(a, b))
  spec = tf.TensorSpec([8, 16], tf.float32), tf.TensorSpec([16, 4], tf.float32)
  assert benchmark.count_flops(f.get_concrete_function(*spec)) == 2 * 8 * 16 * 4


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
  import dataclasses  # pylint: disable=g-import-not-at-top
  inpainter = tiny_exports["classifier"][0]
  make = lambda rows: type(inpainter)({"classifier": inpainter.classifier},  # pylint: disable=unnecessary-lambda-assignment
                                      dataclasses.replace(inpainter.config, block_rows=rows))
  rows = benchmark.bench_blocks(make, block_sizes=(1, 4), long_iterations=3, batch=4,
                                iterations=2)
  assert [(r.benchmark, r.variant, r.images, r.iterations) for r in rows] == [
      ("block of 1 rows (serving_default)", "1 image, 3 iterations", 1, 3),
      ("block of 1 rows (serving_default)", "batch 4", 4, 2),
      ("block of 4 rows (serving_default)", "1 image, 3 iterations", 1, 3),
      ("block of 4 rows (serving_default)", "batch 4", 4, 2)]
  assert all(r.seconds > 0 for r in rows)
