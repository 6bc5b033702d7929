// Replaced by the llhttp codec implementation.
