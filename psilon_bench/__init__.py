"""psilon-bench: small-data benchmarks of sparse, norm-controlled neural networks.

Import-light on purpose: `import psilon_bench` (and the CLI) must not import torch.
"""

__version__ = "0.1.0"
