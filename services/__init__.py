"""Gateway, stream processor, labeler, distiller, rollout, control API and shared plumbing."""
