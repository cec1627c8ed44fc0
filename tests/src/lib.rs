//! End-to-end tests for leakscope live in `tests/`: they start the zoo's release build on
//! loopback and read it through the real clients. This library is intentionally empty.
