"""The container runtime's view of a pull: which hosts it tries, in which order, with
which TLS settings, proxy environment and credentials (README "What the runtime sees").

Readers here parse the runtime's own files (containerd's config.toml and hosts.toml,
docker's daemon.json, containers' registries.conf, kubelet's credential provider config)
into plain data; they never touch the network and never raise on a user's file: what
cannot be read becomes a warning in the plan, as the runtime itself would skip it.
"""
