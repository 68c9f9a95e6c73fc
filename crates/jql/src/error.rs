//! What can go wrong running a script, each kind mapped to one error code.

use sextant_model::ErrorCode;

/// Why a script gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum JqlError {
    /// The script or its parameters are at fault: a syntax or runtime error (its text
    /// names the line and column), a bad argument to a data source or built-in.
    #[error("{0}")]
    Script(String),
    /// The script went past one of its limits (memory, output size, stack).
    #[error("{0}")]
    Limit(String),
    /// The script ran past its time limit and was stopped.
    #[error("the script ran longer than its limit of {0} s and was stopped")]
    Timeout(u64),
    /// The request went away, so the script was stopped.
    #[error("the script was stopped: the request was cancelled")]
    Cancelled,
    /// Reading the data failed.
    #[error(transparent)]
    Storage(#[from] sextant_storage::StorageError),
    /// The engine itself failed (it could not be created).
    #[error("JQL engine: {0}")]
    Engine(String),
}

impl JqlError {
    /// The code the error is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            JqlError::Script(_) | JqlError::Limit(_) => ErrorCode::InvalidRequest,
            JqlError::Timeout(_) | JqlError::Cancelled => ErrorCode::Unavailable,
            JqlError::Storage(e) => e.code(),
            JqlError::Engine(_) => ErrorCode::Internal,
        }
    }
}
