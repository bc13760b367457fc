//! The `podops-streams` Lambda function.

fn main() -> std::process::ExitCode {
    podops_lambda::main(podops_lambda::Function::Streams)
}
