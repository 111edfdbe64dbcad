"""Released models: the blob store and the release signing key."""
