//! Typed errors of the core. The binding crate maps each variant to one Python exception.

use std::fmt;

/// Which input a fault was found in: the binding layer turns this into the user's column name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The score column.
    Score,
    /// Segment key column `j` (in `by` order).
    Key(usize),
    /// The weight column.
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

/// Every error the core returns; each names its input where it has one.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Scores that are off the scale, fractional, NaN or infinite.
    #[error("{count} invalid score(s) in {role}: first at row {first_row}, value {first_value}")]
    InvalidScore {
        /// Which column.
        role: Role,
        /// How many values are bad.
        count: u64,
        /// Row of the first bad value (0-based, across batches).
        first_row: u64,
        /// The first bad value, as text.
        first_value: String,
    },
    /// Outcome or driver values of a driver analysis that are infinite or too large for its
    /// exact sums.
    #[error("{count} invalid value(s) in {role}: first at row {first_row}, value {first_value} ({rule})")]
    InvalidValue {
        /// Which column.
        role: Role,
        /// How many values are bad.
        count: u64,
        /// Row of the first bad value (0-based, across batches).
        first_row: u64,
        /// The first bad value, as text.
        first_value: String,
        /// What a valid value is.
        rule: &'static str,
    },
    /// Weights that are null, NaN, infinite, or neither zero nor in
    /// [[`MIN_WEIGHT`](crate::exact_sum::MIN_WEIGHT), [`MAX_WEIGHT`](crate::exact_sum::MAX_WEIGHT))
    /// (the range in which weight sums are exact; negative weights are out of it).
    #[error("{count} invalid weight(s) in {role}: first at row {first_row}, value {first_value}")]
    InvalidWeight {
        /// Which column.
        role: Role,
        /// How many values are bad.
        count: u64,
        /// Row of the first bad value (0-based, across batches).
        first_row: u64,
        /// The first bad value, as text.
        first_value: String,
    },
    #[error("{role} has unsupported type {data_type}: {why}")]
    /// A column of a type the core cannot read in its role.
    UnsupportedType {
        /// Which column.
        role: Role,
        /// Its Arrow type.
        data_type: String,
        /// What types are accepted instead.
        why: &'static str,
    },
    #[error("{role} has {actual} rows but the scores have {expected}")]
    /// A column whose length differs from the scores'.
    LengthMismatch {
        /// Which column.
        role: Role,
        /// Rows of the scores.
        expected: u64,
        /// Rows of this column.
        actual: u64,
    },
    /// An argument out of range or not applicable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Two accumulators that cannot be merged (different definitions).
    #[error("{0}")]
    Incompatible(String),
    /// Bytes that are not a valid state (damaged, foreign or from a newer format).
    #[error("corrupt state: {0}")]
    CorruptState(String),
    /// An error from arrow-rs (casts, row conversion).
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The work was cancelled (Ctrl-C, see `cancel`); the caller discards the call's result.
    #[error("cancelled")]
    Cancelled,
    /// Counts that would pass 2^64 − 1 rows (merging very large accumulators).
    #[error("count overflow: {0}")]
    CountOverflow(String),
}

/// The core's result type.
pub type Result<T> = std::result::Result<T, CoreError>;
