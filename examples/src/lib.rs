//! Nothing here: the examples are in `examples/`.
