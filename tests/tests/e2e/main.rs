//! End-to-end tests: the zoo's release build on loopback, read through the generated client.

mod support;
mod zoo_data;
