//! The `podops-feeds` Lambda function: published feeds and chapters (public).

fn main() -> std::process::ExitCode {
    podops_lambda::main(podops_lambda::Function::Feeds)
}
