//! The `podops-productions` Lambda function: productions and their members.

fn main() -> std::process::ExitCode {
    podops_lambda::main(podops_lambda::Function::Productions)
}
