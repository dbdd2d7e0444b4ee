//! Exit codes and how failures are reported.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | internal error (database unreachable, IO failure) |
//! | 2 | usage error (bad flags; printed by clap) |
//! | 3 | invalid input: bad name, bundle, schema, spec or context; nothing changed |
//! | 4 | not found |
//! | 5 | conflict: name taken, concurrent change, or the target is in use |
//! | 6 | a deployment waited for (`--wait`) ended FAILED, DELETE_FAILED or CANCELLED |
//! | 7 | `--wait` gave up after `--wait-timeout` seconds |
//! | 8 | with `--server`: the access key is unknown, wrong, revoked or not allowed to do this |

use std::process::ExitCode;

use deuteron_service::{Detail, ServiceError};

use crate::cli::Output;

pub const INTERNAL: u8 = 1;
pub const INVALID: u8 = 3;
pub const NOT_FOUND: u8 = 4;
pub const CONFLICT: u8 = 5;
pub const DEPLOYMENT_FAILED: u8 = 6;
pub const WAIT_TIMEOUT: u8 = 7;
pub const ACCESS_DENIED: u8 = 8;

/// A failed command: its exit code, a one-line error and its details (with `--output json`,
/// schema violations as `{"path", "rule", "value", "message"}`).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub kind: &'static str,
    pub message: String,
    pub details: Vec<Detail>,
}

impl Failure {
    pub fn internal(message: impl Into<String>) -> Self {
        Self { code: INTERNAL, kind: "InternalError", message: message.into(), details: Vec::new() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self { code: INVALID, kind: "ValidationError", message: message.into(), details: Vec::new() }
    }

    pub fn with_details(mut self, details: Vec<Detail>) -> Self {
        self.details = details;
        self
    }

    pub fn report(self, output: Output) -> ExitCode {
        match output {
            Output::Json => {
                let details: Vec<serde_json::Value> = self.details.iter().map(Detail::to_json).collect();
                let doc = serde_json::json!({"error": {"type": self.kind, "message": self.message, "details": details}});
                eprintln!("{doc}");
            }
            Output::Table => {
                eprintln!("error: {}", self.message);
                for d in &self.details {
                    eprintln!("  - {d}");
                }
            }
        }
        ExitCode::from(self.code)
    }
}

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Validation { message, details } => Failure { code: INVALID, kind: "ValidationError", message, details },
            ServiceError::Bundle(m) => {
                Failure { code: INVALID, kind: "InvalidBundle", message: format!("invalid bundle: {m}"), details: Vec::new() }
            }
            e @ ServiceError::NotFound(_) => Failure { code: NOT_FOUND, kind: "NotFound", message: e.to_string(), details: Vec::new() },
            ServiceError::Conflict(m) => Failure { code: CONFLICT, kind: "Conflict", message: m, details: Vec::new() },
            ServiceError::Internal(m) => Failure::internal(m),
        }
    }
}
