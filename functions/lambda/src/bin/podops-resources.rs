//! The `podops-resources` Lambda function: shows, episodes and assets.

fn main() -> std::process::ExitCode {
    podops_lambda::main(podops_lambda::Function::Resources)
}
