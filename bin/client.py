r"""A TF Serving client: python -m bin.client --server=HOST:8501 --model=NAME --input=... --mask=...

Sends the images (and masks, labels, options) to a model served by tensorflow_model_server
through its REST predict API (or gRPC with --protocol=grpc and the optional
tensorflow-serving-api package) and writes the same files as bin.inpaint: results, masks,
grid.png, results.csv and the optimisation traces. --method names a signature (serving_default,
yeh, semantic, full, illumination); options left out take the served model's defaults.

  tensorflow_model_server --rest_api_port=8501 --model_name=digits_lenet \
      --model_base_path=$PWD/exported/digits_lenet &
  python -m bin.client --model=digits_lenet --input=tfinpaint/samples/digits --mask=center
"""

from bin import cli  # first: quiets TensorFlow before it is imported


def main(args):
  from tfinpaint import client, inpaint  # pylint: disable=g-import-not-at-top
  where = args.get(client.Settings)
  settings = client.inpaint_settings(where, args.get(inpaint.Settings))
  model = client.RemoteModel(where.server, where.model, where.protocol, where.timeout)
  output_dir, written, rows = inpaint.run(settings, args.options,
                                          log=lambda l: print(l, flush=True), models=[model])
  print(f"wrote {len(rows)} result(s) from {where.model} at {where.server} and "
        f"{', '.join(written)} to {output_dir}")


if __name__ == "__main__":
  cli.run(main, "client")
