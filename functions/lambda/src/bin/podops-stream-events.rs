//! The `podops-stream-events` Lambda function.

fn main() -> std::process::ExitCode {
    podops_lambda::main(podops_lambda::Function::StreamEvents)
}
