// Testing harness.
