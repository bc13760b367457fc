//! The `podops-auth` Lambda function: /, /openapi.json and /_a/token (meta + tokens).

fn main() -> std::process::ExitCode {
    podops_lambda::main(podops_lambda::Function::Auth)
}
