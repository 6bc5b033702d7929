// Event layer.
