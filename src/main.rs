fn main() {
    std::process::exit(sofa::cli::main());
}
