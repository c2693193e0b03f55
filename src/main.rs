fn main() {
    std::process::exit(synthgen::cli::main());
}
