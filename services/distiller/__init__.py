"""The distiller: keeps labeled samples, retrains the student on schedule, on drift or on an
ops command, gates, quantises, signs and publishes releases (step 5 of ``docs/architecture.md``)."""
