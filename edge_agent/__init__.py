"""Device runtime around the C engine, OTA client and fleet simulator."""
