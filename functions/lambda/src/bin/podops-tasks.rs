//! The `podops-tasks` Lambda function: imports and asset content (renditions, external ids).

fn main() -> std::process::ExitCode {
    podops_lambda::main(podops_lambda::Function::Tasks)
}
