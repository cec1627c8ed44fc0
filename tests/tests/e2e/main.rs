//! End-to-end tests: the zoo's release build on loopback, read through the generated client.

mod attach;
mod first_sight;
mod fleet;
mod gate;
mod profile;
mod snapshot;
mod stress;
mod support;
mod waits;
mod zoo_data;
