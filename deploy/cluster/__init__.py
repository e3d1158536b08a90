"""The multi-node topology on loopback addresses (deploy/README.md)."""

from .topology import Cluster, ClusterOptions, free_port_block

__all__ = ["Cluster", "ClusterOptions", "free_port_block"]
