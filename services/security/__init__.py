"""Credentials and transport security of the local stack: account secrets
(:mod:`.secrets`), the files that hold them (:mod:`.files`) and the one factory of client
connections (:mod:`.access`)."""
