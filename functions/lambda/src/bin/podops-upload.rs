//! The `podops-upload` Lambda function: uploads of media.

fn main() -> std::process::ExitCode {
    podops_lambda::main(podops_lambda::Function::Upload)
}
