"""The fleet's device commands: provision simulator accounts, run the fleet simulator or one
agent (``fleet devices | device``), and classify texts on the devices' C engine (``fleet
classify``), from the fleet's settings, registry, secrets and release store."""
