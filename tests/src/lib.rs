//! Cross-crate integration tests of the Hardy crates live in `tests/tests/`: how layers
//! compose into one stack, and (as the patterns arrive) chaos and recovery scenarios.
