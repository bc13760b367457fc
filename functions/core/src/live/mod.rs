//! Live streams' pure logic, shared by the worker (which runs it) and the API
//! (which previews it): the FFmpeg commands, secret redaction, and the plain
//! words for FFmpeg's failures.

pub mod command;
pub mod hints;
pub mod redact;
