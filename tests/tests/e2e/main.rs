//! End-to-end tests: the zoo's release build on loopback, read through the generated client.

mod adopt;
mod attach;
mod cli;
mod doctor;
mod first_sight;
mod fleet;
mod gate;
mod profile;
mod readme;
mod snapshot;
mod stress;
mod support;
mod waits;
mod zoo_data;
