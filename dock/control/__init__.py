"""The local control socket: framing (wire), the owner's server (server) and the daemon client RemoteDock
(remote)."""
