"""Gateway, stream processor, labeller, distiller, rollout, control API and shared plumbing."""
