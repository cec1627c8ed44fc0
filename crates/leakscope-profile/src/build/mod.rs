//! Profiles built from what an agent sends: task-wait, lock-wait and blocking profiles from
//! leakscope-analysis's model (with the `analysis` feature), CPU profiles from `CpuProfile`.

mod cpu;

#[cfg(feature = "analysis")]
mod blocking;
#[cfg(feature = "analysis")]
mod frames;
#[cfg(feature = "analysis")]
mod locks;
#[cfg(feature = "analysis")]
mod tasks;

pub use cpu::cpu_profile;

#[cfg(feature = "analysis")]
pub use blocking::blocking_profile;
#[cfg(feature = "analysis")]
pub use frames::{Dumped, wait_chain};
#[cfg(feature = "analysis")]
pub use locks::lock_wait_profile;
#[cfg(feature = "analysis")]
pub use tasks::{TaskFilter, Weight, task_wait_profile};
