"""tfinpaint: large-hole inpainting by optimisation against trained networks."""
from setuptools import find_packages, setup

TF = "2.21"

setup(
    name="tfinpaint",
    version="0.1.0",
    description=("Semantic (GAN-prior + classifier) and classifier-guided "
                 "inpainting in TensorFlow 2 / Keras 3, servable by TF Serving."),
    python_requires=">=3.10",
    packages=find_packages(include=["tfinpaint", "tfinpaint.*", "bin"]),
    package_data={"tfinpaint": ["samples/*/*.png"]},
    install_requires=[
        # TensorFlow itself comes from the `cpu` or `gpu` extra so that a
        # user never ends up with both `tensorflow` and `tensorflow-cpu`.
        "keras>=3.6",
        "tensorflow-datasets>=4.9",
        "importlib_resources",  # tfds 4.9.10 builders import it.
        "numpy",
        "pillow",
        "absl-py",
    ],
    extras_require={
        "cpu": [f"tensorflow-cpu~={TF}.0"],
        "gpu": [f"tensorflow[and-cuda]~={TF}.0"],
        "baselines": ["opencv-python-headless>=4.8", "pypatchmatch>=2.2"],
        # gRPC for bin.client; needs the full tensorflow wheel (with [gpu]; with [cpu] install
        # it with pip's --no-deps, see the README).
        "serving": [f"tensorflow-serving-api~={TF}.0", "grpcio"],
        "test": ["pytest>=8", "hypothesis>=6", "opencv-python-headless>=4.8",
                 "pypatchmatch>=2.2", "scipy"],
    },
)
