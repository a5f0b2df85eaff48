//! The `readerlink` command line; see `readerlink --help`.

fn main() -> std::process::ExitCode {
    readerlink::cli::main()
}
