//! The `podops-build` Lambda function: builds and rollbacks, and the schedule's run-due-builds.

fn main() -> std::process::ExitCode {
    podops_lambda::main(podops_lambda::Function::Build)
}
