"""A client of a model served by TensorFlow Serving: bin.client's library.

`RemoteModel` offers what tfinpaint.served.Model offers (signatures with their declared shapes
and defaults, `run`, `run_batches`), but over TF Serving's documented APIs, so bin.client plans,
runs and writes exactly as bin.inpaint does (tfinpaint.inpaint) and writes the same files:

  * REST (default, port 8501): GET /v1/models/<name>/metadata for the SignatureDefs, POST
    /v1/models/<name>:predict with the columnar "inputs" format, the response's "outputs";
  * gRPC (port 8500), when the optional `tensorflow-serving-api` package is installed:
    PredictionService.Predict with TensorProtos.

Options a request leaves out take the SignatureDef's defaults on the server (TF Serving fills
them in); the metadata's "defaults" tell the client what they are. An error the server returns
(e.g. the graph's InvalidArgument for a bad request) becomes an InputError with its message.

Nothing the server sends is trusted: an answer is read up to MAX_RESPONSE_BYTES and within
--timeout seconds in all, and anything that is not a valid answer to the request (not JSON, an
HTML error page, an empty body, metadata that is not TF Serving's, outputs missing, of the
wrong shape or not numbers) becomes one InputError line saying what the server sent.
"""

import dataclasses
import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np

from tfinpaint import config
from tfinpaint import served
from tfinpaint.errors import InputError
from tfinpaint.serving import records

@dataclasses.dataclass(frozen=True)
class Settings(config.Config):
  """Where bin.client finds the server; the rest of a run is bin.inpaint's (inpaint.Settings)."""
  model: str | None = config.field(None, help="the served model's name "
                                   "(tensorflow_model_server --model_name)")
  server: str = config.field("localhost:8501", help="TF Serving host:port (REST; gRPC: "
                             "host:8500 with protocol grpc)")
  protocol: str = config.field("rest", help="TF Serving API", choices=("rest", "grpc"))
  timeout: int = config.field(600, help="seconds to wait for the server", low=1, high=86400)
  output_dir: str = config.field(os.path.join("out", "client"), help="where results go; "
                                 "replaced as a whole when the run succeeds")


def inpaint_settings(where, settings):
  """bin.inpaint's settings of a bin.client run (its output folder is the client's)."""
  if not where.model:
    raise InputError("--model is required (the served model's name)")
  if not settings.input:
    raise InputError("--input is required (the images to send to the server)")
  return settings.replace(output_dir=where.output_dir)


MAX_RESPONSE_BYTES = 256 * 2**20  # a longer answer is not an answer to a tfinpaint request


def server_url(server):
  """The base URL of `server` ("host:port" or "http(s)://host:port"), or an InputError."""
  text = server if "://" in server else f"http://{server}"
  try:
    parts = urllib.parse.urlsplit(text)
    port = parts.port
  except ValueError as e:
    raise InputError(f"--server={server}: {e} (expected host:port, e.g. localhost:8501)") from None
  if parts.scheme not in ("http", "https") or not parts.hostname:
    raise InputError(f"--server={server}: expected host:port or http(s)://host:port")
  if port is None and "://" not in server:
    raise InputError(f"--server={server}: no port (TF Serving's REST port is 8501)")
  return text.rstrip("/")


def _what_was_sent(body, status=None, content_type=None):
  """A short description of a body that is not a valid answer (for the error line)."""
  head = f"HTTP {status}" if status else "an answer"
  if content_type:
    head += f" ({content_type})"
  if not body:
    return f"{head} with an empty body"
  text = " ".join(body[:120].decode("utf-8", "backslashreplace").split())
  return f"{head}: {text[:100]!r}{'...' if len(body) > 100 else ''}"


def _read(response, deadline, where):
  """The body of `response`, read in chunks: at most MAX_RESPONSE_BYTES, before `deadline`."""
  chunks, size = [], 0
  while True:
    if time.monotonic() > deadline:
      raise InputError(f"{where}: the server did not finish its answer within --timeout")
    # read1 returns what has arrived (up to 64 KiB) instead of waiting for a full chunk, so
    # a server that trickles its answer still meets the deadline.
    try:
      chunk = getattr(response, "read1", response.read)(1 << 16)
    except TimeoutError:
      raise InputError(f"{where}: the server did not finish its answer within --timeout") \
          from None
    if not chunk:
      return b"".join(chunks)
    size += len(chunk)
    if size > MAX_RESPONSE_BYTES:
      raise InputError(f"{where}: the server sent more than {MAX_RESPONSE_BYTES >> 20} MiB; "
                       "that is no answer to this request")
    chunks.append(chunk)


def _json(body, where, status=None, content_type=None):
  try:
    return json.loads(body)
  except (ValueError, UnicodeDecodeError, RecursionError):
    raise InputError(f"{where}: the server sent {_what_was_sent(body, status, content_type)}, "
                     "not TF Serving's JSON") from None


_DTYPES = {"DT_FLOAT": np.float32, "DT_INT32": np.int32, "DT_INT64": np.int64,
           "DT_DOUBLE": np.float64, "DT_BOOL": np.bool_, "DT_UINT8": np.uint8}


def signatures_from_metadata(metadata):
  """{signature: SignatureInfo} from TF Serving's REST metadata JSON (InputError if it is not)."""
  try:
    sig_map = metadata["metadata"]["signature_def"]["signature_def"]
    if not isinstance(sig_map, dict):
      raise TypeError
  except (KeyError, TypeError):
    raise InputError("the server's metadata has no signature_def (is it TF Serving?)") from None
  try:
    out = _signatures(sig_map)
  except (ValueError, TypeError, AttributeError, KeyError, IndexError) as e:
    raise InputError(f"the server's metadata is not TF Serving's SignatureDefs "
                     f"({type(e).__name__}: {' '.join(str(e).split())[:100]})") from None
  info = out.get("serving_default")
  shape = info.inputs.get("image", (None, ()))[1] if info else ()
  if len(shape) != 4 or None in shape[1:]:
    raise InputError("the served model has no serving_default signature with an image input "
                     "[batch, height, width, channels]; is it a tfinpaint export?")
  return out


def _signatures(sig_map):
  out = {}
  for name, sig in sig_map.items():
    if name.startswith("__"):
      continue
    inputs = {}
    for key, info in sig.get("inputs", {}).items():
      dims = info.get("tensor_shape", {}).get("dim", [])
      shape = tuple(None if int(d.get("size", -1)) < 0 else int(d["size"]) for d in dims)
      inputs[key] = (_DTYPES.get(info.get("dtype"), np.float32), shape)
    defaults = {}
    for key, proto in sig.get("defaults", {}).items():
      value = _proto_json_value(proto)
      if value is not None:
        defaults[key] = value
    out[name] = served.SignatureInfo(inputs, defaults, tuple(sorted(sig.get("outputs", {}))))
  return out


def _proto_json_value(proto):
  """A scalar TensorProto in protobuf-JSON form -> numpy scalar (None if not understood)."""
  dtype = _DTYPES.get(proto.get("dtype"))
  for field in ("float_val", "int_val", "int64_val", "double_val", "bool_val"):
    if proto.get(field):
      return np.asarray(proto[field][0], dtype)
  if dtype is not None and "tensor_shape" in proto:
    return np.zeros([], dtype)  # a proto3 zero is left out of the JSON
  return None


def encode_request(signature, inputs):
  """The REST predict body (columnar "inputs" format)."""
  return json.dumps({"signature_name": signature,
                     "inputs": {k: np.asarray(v).tolist() for k, v in inputs.items()}})


def decode_response(body, info, count=None, image_shape=None, status=None, content_type=None):
  """{output: array} from a REST predict response ("outputs": a dict, or one bare output).

  With `count` (images sent) and `image_shape` (H, W, C), the answer is checked: every output the
  signature declares, each with `count` rows, "inpainted" [count, H, W, C]; else InputError.
  """
  data = _json(body, "predict", status, content_type)
  if isinstance(data, dict) and "error" in data:
    refusal = served.error_message(str(data["error"]))
    raise InputError(f"the server refused the request: {refusal}")
  if not isinstance(data, dict) or "outputs" not in data:
    raise InputError(f"predict: the server sent {_what_was_sent(body, status, content_type)}, "
                     "with no \"outputs\"")
  outputs = data["outputs"]
  if not isinstance(outputs, dict):
    outputs = {info.outputs[0]: outputs} if info is not None and info.outputs else {}
  out = {}
  for k, v in outputs.items():
    try:
      out[k] = np.asarray(v)
    except ValueError:
      raise InputError(f"predict: the server's output {k!r} is not a tensor (ragged lists)") \
          from None
    if out[k].dtype.kind not in "biuf":
      raise InputError(f"predict: the server's output {k!r} holds {out[k].dtype.kind!r} "
                       "values, not numbers")
  return check_outputs(out, info, count, image_shape) if count is not None else out


def check_outputs(out, info, count, image_shape):
  """`out` if it answers a request of `count` images of `image_shape`, else InputError."""
  missing = sorted(set(info.outputs) - set(out)) if info is not None else []
  if missing:
    raise InputError(f"predict: the server's answer has no output {', '.join(missing)}")
  for k, v in out.items():
    if v.ndim == 0 or v.shape[0] != count:
      raise InputError(f"predict: the server's output {k!r} has shape {list(v.shape)}, not "
                       f"{count} rows (one per image sent)")
  if "inpainted" in out and tuple(out["inpainted"].shape[1:]) != tuple(image_shape):
    raise InputError(f"predict: the server's inpainted images are "
                     f"{list(out['inpainted'].shape)}, not [{count}, "
                     f"{', '.join(map(str, image_shape))}]")
  if "inpainted" in out and not np.isfinite(out["inpainted"]).all():
    raise InputError("predict: the server's inpainted images hold NaN or Inf")
  return out


class RemoteModel:
  """A model on a TF Serving server, with served.Model's interface."""

  def __init__(self, server, name, protocol="rest", timeout=600):
    self.server, self._name, self.protocol, self.timeout = server, name, protocol, timeout
    self._base = server_url(server) if protocol == "rest" else server
    self.samples, self.data, self.config = None, None, {}
    self.signatures = signatures_from_metadata(self._get(f"/v1/models/{name}/metadata"))
    self.methods = {n: (n, {}) for n in self.signatures}
    self.default_method = "serving_default"
    self._stub = None

  name = property(lambda self: self._name)

  @property
  def image_shape(self):
    return tuple(self.signatures["serving_default"].inputs["image"][1][1:])

  def options(self, signature):
    return dict(self.signatures[signature].defaults)

  def _url(self, path):
    return self._base + urllib.parse.quote(path, safe="/:")

  def _exchange(self, request, where):
    """(status, content type, body) of one HTTP exchange, bounded in size and time."""
    deadline = time.monotonic() + self.timeout
    try:
      with urllib.request.urlopen(request, timeout=self.timeout) as r:
        return r.status, r.headers.get_content_type(), _read(r, deadline, where)
    except urllib.error.HTTPError as e:
      return e.code, e.headers.get_content_type() if e.headers else None, \
          _read(e, deadline, where)
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
      reason = getattr(e, "reason", e)
      raise InputError(f"cannot reach TF Serving at {self.server}: "
                       f"{' '.join(str(reason).split()) or type(e).__name__}") from None

  def _get(self, path):
    url = self._url(path)
    status, content_type, body = self._exchange(url, url)
    if status != 200:
      data = _json(body, url, status, content_type) if body[:1] in (b"{", b"[") else None
      if isinstance(data, dict) and "error" in data:
        text = served.error_message(str(data["error"]))
      else:
        text = _what_was_sent(body, status, content_type)
      raise InputError(f"{url}: {text}")
    return _json(body, url, status, content_type)

  def run(self, signature, inputs, options=None):
    if signature not in self.signatures:
      raise InputError(f"the served model {self.name} has no signature {signature!r}; it has "
                       f"{', '.join(sorted(self.signatures))}")
    info = self.signatures[signature]
    feeds = {k: np.asarray(v, info.inputs[k][0]) for k, v in inputs.items() if k in info.inputs}
    feeds.update({k: np.asarray(v, info.inputs[k][0]) for k, v in (options or {}).items()
                  if v is not None})
    if self.protocol == "grpc":
      return self._run_grpc(signature, feeds)
    count = len(feeds["image"]) if "image" in feeds else None
    request = urllib.request.Request(self._url(f"/v1/models/{self.name}:predict"),
                                     data=encode_request(signature, feeds).encode(),
                                     headers={"Content-Type": "application/json"})
    status, content_type, body = self._exchange(request, "predict")
    return decode_response(body, info, count, self.image_shape, status, content_type)

  def _run_grpc(self, signature, feeds):
    try:
      import grpc  # pylint: disable=g-import-not-at-top
      from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise InputError("--protocol=grpc needs tensorflow-serving-api and grpcio "
                       "(pip install --no-deps tensorflow-serving-api grpcio)") from None
    if self._stub is None:
      self._stub = prediction_service_pb2_grpc.PredictionServiceStub(
          grpc.insecure_channel(self.server))
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = self.name, signature
    for k, v in feeds.items():
      request.inputs[k].ParseFromString(records.to_tensor_proto(v).SerializeToString())
    try:
      response = self._stub.Predict(request, self.timeout)
    except grpc.RpcError as e:
      refusal = served.error_message(str(e.details()))
      raise InputError(f"the server refused the request: {refusal}") from None
    out = {}
    for k, proto in response.outputs.items():
      mine = records.tfprotos.tensor_pb2.TensorProto()
      mine.ParseFromString(proto.SerializeToString())
      try:
        out[k] = records.from_tensor_proto(mine)
      except (ValueError, TypeError) as e:
        raise InputError(f"predict: the server's output {k!r} is not a valid tensor: {e}") \
            from None
    return check_outputs(out, self.signatures[signature], len(feeds["image"]), self.image_shape)

  def run_batches(self, signature, inputs, options=None, batch_size=served.BATCH_SIZE):
    return served.Model.run_batches(self, signature, inputs, options, batch_size)
