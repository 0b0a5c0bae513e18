"""The network layer (libp2p, trio). Knows bytes, peer ids and protocol ids, never learnwares.

Empty until the network issue lands; it exists now so the layer rule has its four packages.
"""
