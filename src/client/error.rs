//! The client's one error type, and how each kind ends the process.

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Bad flags, an unreadable file, a missing setting: exit 1.
    #[error("{0}")]
    Usage(String),
    /// The server answered 4xx with its error shape: exit 2.
    #[error("{code}: {message}")]
    Refused { status: u16, code: String, message: String, params: Value },
    /// The API could not be reached, or answered 5xx or nonsense: exit 3.
    #[error("{0}")]
    Failed(String),
}

impl ClientError {
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Usage(_) => 1,
            ClientError::Refused { .. } => 2,
            ClientError::Failed(_) => 3,
        }
    }

    /// Prints the error to stderr: the server's code and message, and the
    /// problems of a refused build as a table.
    pub fn report(&self) {
        eprintln!("podops: {self}");
        if let ClientError::Refused { params, .. } = self {
            if let Some(problems) = params.get("problems").and_then(Value::as_array) {
                eprint!("{}", super::output::table(problems, &["code", "field", "blocking", "message"]));
            } else if let Some(field) = params.get("field").and_then(Value::as_str) {
                eprintln!("  field: {field}");
            }
        }
    }
}
