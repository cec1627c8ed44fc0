//! The `leakscope` command; the program is the `leakscope_cli` library so tests can reach it.

fn main() -> std::process::ExitCode {
    leakscope_cli::main()
}
