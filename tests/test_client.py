"""bin.client against a server that answers badly: every answer that is not a valid response
to the request is one line saying what the server sent, and nothing is written.

The server here is a stand-in for a broken TF Serving or whatever else listens on the port (a
proxy's HTML page, a truncated answer); the good path is the real SignatureDefs of a tiny export
run locally, as in test_cli.test_client_speaks_tf_servings_rest_format.
"""

import http.server
import json
import os
import threading

import numpy as np
import pytest

from tests.test_cli import run_main, write_png
from tfinpaint import client, served
from tfinpaint.errors import InputError


def _metadata(version_dir):
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  from tfinpaint.serving import tfprotos  # pylint: disable=g-import-not-at-top
  proto = tfprotos.saved_model_pb2.SavedModel()
  with open(os.path.join(version_dir, "saved_model.pb"), "rb") as f:
    proto.ParseFromString(f.read())
  return {"model_spec": {"name": "tiny"}, "metadata": {"signature_def": {
      "signature_def": {k: json_format.MessageToDict(v, preserving_proto_field_name=True)
                        for k, v in proto.meta_graphs[0].signature_def.items()}}}}


class _Server(http.server.ThreadingHTTPServer):
  """Answers GET metadata and POST predict with what the test sets: (status, type, body)."""

  def __init__(self):
    super().__init__(("127.0.0.1", 0), _Handler)
    self.answers = {}

  @property
  def address(self):
    return f"127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):

  def _answer(self, kind):
    if callable(self.server.answers[kind]):  # it writes the whole answer itself
      self.server.answers[kind](self)
      return
    status, content_type, body = self.server.answers[kind]
    if callable(body):
      body = body(self)
    self.send_response(status)
    self.send_header("Content-Type", content_type)
    self.send_header("Content-Length", str(len(body)))
    self.end_headers()
    self.wfile.write(body)

  def do_GET(self):  # pylint: disable=invalid-name
    self._answer("metadata")

  def do_POST(self):  # pylint: disable=invalid-name
    self.rfile.read(int(self.headers["Content-Length"]))
    self._answer("predict")

  def log_message(self, *args):
    del args


@pytest.fixture(scope="module")
def server(tiny_exports):
  s = _Server()
  thread = threading.Thread(target=s.serve_forever, daemon=True)
  thread.start()
  s.metadata = json.dumps(_metadata(tiny_exports["classifier"][1])).encode()
  s.local = served.load(tiny_exports["classifier"][1])
  yield s
  s.shutdown()


def _outputs_with(local, **changes):
  image = np.zeros((1, 16, 16, 1), np.float32)
  out = local.run("serving_default", {"image": image, "mask": np.ones_like(image),
                                      "label": np.zeros([1], np.int32)}, {"iterations": 1})
  out = {k: v.tolist() for k, v in out.items()}
  for k, v in changes.items():
    if v is None:
      out.pop(k)
    else:
      out[k] = v
  return json.dumps({"outputs": out}).encode()


JSON = "application/json"
BAD_ANSWERS = [
    ("metadata", (200, JSON, b"{not json"), "the server sent HTTP 200 (application/json): "
     "'{not json', not TF Serving's JSON"),
    ("metadata", (500, "text/html", b"<html><body>Internal Server Error</body></html>"),
     "HTTP 500 (text/html): '<html><body>Internal Server Error"),
    ("metadata", (503, JSON, b""), "HTTP 503 (application/json) with an empty body"),
    ("metadata", (200, JSON, b'{"metadata": {"signature_def": {"signature_def": {'
                  b'"serving_default": {"inputs": {"image": {"dtype": "DT_FLOAT", "tensor_shape":'
                  b' {"dim": [{"size": "abc"}]}}}}}}}}'), "metadata is not TF Serving's"),
    ("metadata", (200, JSON, b'{"metadata": {}}'), "has no signature_def"),
    ("metadata", (200, JSON, b"[1, 2]"), "has no signature_def"),
    ("predict", (200, JSON, b"{not json"), "not TF Serving's JSON"),
    ("predict", (500, "text/html", b"<html>oops</html>"), "HTTP 500 (text/html): '<html>oops"),
    ("predict", (500, JSON, b""), "HTTP 500 (application/json) with an empty body"),
    ("predict", (200, JSON, b'{"predictions": []}'), 'with no "outputs"'),
    ("predict", (200, JSON, lambda local: _outputs_with(local, inpainted=None)),
     "has no output inpainted"),
    ("predict", (200, JSON, lambda local: _outputs_with(local, inpainted=[[0.5, 0.5]])),
     "inpainted images are [1, 2], not [1, 16, 16, 1]"),
    ("predict", (200, JSON, lambda local: _outputs_with(local, label=[1, 2, 3])),
     "output 'label' has shape [3], not 1 rows"),
    ("predict", (200, JSON, lambda local: _outputs_with(local, label=[[1], [2, 3]])),
     "output 'label' is not a tensor"),
    ("predict", (200, JSON, lambda local: _outputs_with(local, label=["a"])),
     "output 'label' holds"),
    ("predict", (200, JSON, lambda local: _outputs_with(
        local, inpainted=np.full((1, 16, 16, 1), np.nan).tolist())), "hold NaN or Inf"),
    ("predict", (200, JSON, b"[" + b"0," * 700000 + b"0]"), "more than 1 MiB"),
    ("predict", (400, JSON, b'{"error": "assertion failed: [image values must be in [0, 1]] '
                 b'[image shape:] [1 16 16 1]"}'), "image values must be in [0, 1]"),
]


@pytest.mark.parametrize("kind, answer, message", BAD_ANSWERS)
def test_every_bad_answer_is_one_line(server, tmp_path, monkeypatch, kind, answer, message):
  monkeypatch.setattr(client, "MAX_RESPONSE_BYTES", 2**20)
  write_png(tmp_path / "a.png", np.full((16, 16, 1), 0.5))
  status, content_type, body = answer
  if callable(body):
    body = body(server.local)
  server.answers = {"metadata": (200, JSON, server.metadata), "predict": (200, JSON, b"{}")}
  server.answers[kind] = (status, content_type, body)
  with pytest.raises(InputError) as caught:
    run_main("client", ["--model=tiny", f"--server={server.address}", "--label=1",
                        f"--input={tmp_path / 'a.png'}", f"--output_dir={tmp_path / 'out'}",
                        "--iterations=1"])
  text = str(caught.value)
  assert message in text and "\n" not in text, text
  assert not (tmp_path / "out").exists()


def test_a_good_answer_is_written(server, tmp_path):
  write_png(tmp_path / "a.png", np.full((16, 16, 1), 0.5))
  server.answers = {"metadata": (200, JSON, server.metadata),
                    "predict": (200, JSON, _outputs_with(server.local))}
  run_main("client", ["--model=tiny", f"--server={server.address}", "--label=1",
                      f"--input={tmp_path / 'a.png'}", f"--output_dir={tmp_path / 'out'}"])
  assert (tmp_path / "out" / "inpainted" / "a.png").exists()


@pytest.mark.parametrize("address, message", [
    ("127.0.0.1:abc", "--server=127.0.0.1:abc: Port could not be cast"),
    ("127.0.0.1:99999", "Port out of range"),
    ("127.0.0.1", "no port"),
    ("ftp://127.0.0.1:21", "expected host:port"),
])
def test_bad_server_addresses_are_one_line(address, message):
  with pytest.raises(InputError, match=message):
    client.server_url(address)


def test_a_trickling_answer_meets_the_timeout(server, tmp_path):
  import time  # pylint: disable=g-import-not-at-top
  def trickle(handler):
    handler.send_response(200)
    handler.send_header("Content-Type", JSON)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    for _ in range(40):  # 1 byte every 0.25 s: each read returns in time, the whole never does
      handler.wfile.write(b" ")
      handler.wfile.flush()
      time.sleep(0.25)
    return None
  write_png(tmp_path / "a.png", np.full((16, 16, 1), 0.5))
  server.answers = {"metadata": (200, JSON, server.metadata), "predict": trickle}
  start = time.monotonic()
  with pytest.raises(InputError, match="did not finish its answer within --timeout"):
    run_main("client", ["--model=tiny", f"--server={server.address}", "--label=1", "--timeout=2",
                        f"--input={tmp_path / 'a.png'}", f"--output_dir={tmp_path / 'out'}"])
  assert time.monotonic() - start < 8
