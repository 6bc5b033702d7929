// Replaced by the router implementation.
