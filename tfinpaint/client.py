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
"""

import dataclasses
import json
import os
import urllib.error
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


_DTYPES = {"DT_FLOAT": np.float32, "DT_INT32": np.int32, "DT_INT64": np.int64,
           "DT_DOUBLE": np.float64, "DT_BOOL": np.bool_, "DT_UINT8": np.uint8}


def signatures_from_metadata(metadata):
  """{signature: SignatureInfo} from TF Serving's REST metadata JSON."""
  try:
    sig_map = metadata["metadata"]["signature_def"]["signature_def"]
  except (KeyError, TypeError):
    raise InputError("the server's metadata has no signature_def (is it TF Serving?)") from None
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


def decode_response(body, info):
  """{output: array} from a REST predict response ("outputs": a dict, or one bare output)."""
  data = json.loads(body)
  if "error" in data:
    raise InputError(f"the server refused the request: {_message(data['error'])}")
  outputs = data.get("outputs")
  if not isinstance(outputs, dict):
    outputs = {info.outputs[0]: outputs}
  return {k: np.asarray(v) for k, v in outputs.items()}


def _message(text):
  return served.error_message(type("E", (), {"message": str(text)})())


class RemoteModel:
  """A model on a TF Serving server, with served.Model's interface."""

  def __init__(self, server, name, protocol="rest", timeout=600):
    self.server, self._name, self.protocol, self.timeout = server, name, protocol, timeout
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
    server = self.server if "://" in self.server else f"http://{self.server}"
    return server.rstrip("/") + path

  def _get(self, path):
    try:
      with urllib.request.urlopen(self._url(path), timeout=self.timeout) as r:
        return json.loads(r.read())
    except urllib.error.HTTPError as e:
      raise InputError(f"{self._url(path)}: HTTP {e.code} {_message(e.read().decode())}") from None
    except (urllib.error.URLError, OSError) as e:
      raise InputError(f"cannot reach TF Serving at {self.server}: {e}") from None

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
    request = urllib.request.Request(self._url(f"/v1/models/{self.name}:predict"),
                                     data=encode_request(signature, feeds).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
      with urllib.request.urlopen(request, timeout=self.timeout) as r:
        return decode_response(r.read(), info)
    except urllib.error.HTTPError as e:
      return decode_response(e.read(), info)
    except (urllib.error.URLError, OSError) as e:
      raise InputError(f"cannot reach TF Serving at {self.server}: {e}") from None

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
      raise InputError(f"the server refused the request: {_message(e.details())}") from None
    out = {}
    for k, proto in response.outputs.items():
      mine = records.tfprotos.tensor_pb2.TensorProto()
      mine.ParseFromString(proto.SerializeToString())
      out[k] = records.from_tensor_proto(mine)
    return out

  def run_batches(self, signature, inputs, options=None, batch_size=served.BATCH_SIZE):
    return served.Model.run_batches(self, signature, inputs, options, batch_size)
