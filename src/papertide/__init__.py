"""papertide: a self-hosted research-paper radar.

Data flows through the sub-packages in this order:
sources -> store -> index -> rank -> (digest, web) -> cli.
"""

__version__ = "0.1.0"
