//! Takes over the terminal as `leakscope attach` does, then panics: the end-to-end test
//! `attach::a_panic_restores_the_terminal` runs it in a pseudo-terminal and checks the panic
//! path gives the terminal back before the message is printed.

fn main() {
    let entered = leakscope_tui::with_screen(|| panic!("a bug inside the UI"));
    // Only reached when the terminal could not be taken over.
    let Err(err) = entered;
    eprintln!("tui-panic: {err}");
    std::process::exit(2);
}
