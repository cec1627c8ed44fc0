//! `leakscope-bench`: one measurement of one workload under one instrumentation mode, as a JSON line.

fn main() -> std::process::ExitCode {
    leakscope_bench::main()
}
