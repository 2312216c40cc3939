//! Typed errors of the core. The binding crate maps each variant to one Python exception.

use std::fmt;

/// Which input a fault was found in: the binding layer turns this into the user's column name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Score,
    Key(usize),
    Weight,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Score => write!(f, "score"),
            Role::Key(i) => write!(f, "by[{i}]"),
            Role::Weight => write!(f, "weight"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Scores that are off the scale, fractional, NaN or infinite.
    #[error("{count} invalid score(s) in {role}: first at row {first_row}, value {first_value}")]
    InvalidScore {
        role: Role,
        count: u64,
        first_row: u64,
        first_value: String,
    },
    /// Weights that are negative, NaN, infinite or null.
    #[error("{count} invalid weight(s) in {role}: first at row {first_row}, value {first_value}")]
    InvalidWeight {
        role: Role,
        count: u64,
        first_row: u64,
        first_value: String,
    },
    #[error("{role} has unsupported type {data_type}: {why}")]
    UnsupportedType {
        role: Role,
        data_type: String,
        why: &'static str,
    },
    #[error("{role} has {actual} rows but the scores have {expected}")]
    LengthMismatch {
        role: Role,
        expected: u64,
        actual: u64,
    },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("corrupt state: {0}")]
    CorruptState(String),
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

pub type Result<T> = std::result::Result<T, CoreError>;
