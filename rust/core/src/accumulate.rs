//! Mergeable accumulator state and its durable binary format.
//!
//! (Being written: see issue 4. `encode`/`decode` are the whole interface the binding uses.)

use crate::error::{CoreError, Result};
use crate::histogram::Aggregator;
use crate::scale::Scale;

/// Everything an accumulator holds. `aggregator` is `None` until the first update fixes the
/// key types; such an empty state is the identity of `merge`.
#[derive(Clone)]
pub struct State {
    pub scale: Scale,
    pub weighted: bool,
    pub n_keys: usize,
    pub aggregator: Option<Aggregator>,
}

pub fn encode(state: &State) -> Result<Vec<u8>> {
    let _ = state;
    Err(CoreError::InvalidArgument(
        "serialization is not implemented yet".into(),
    ))
}

pub fn decode(bytes: &[u8]) -> Result<State> {
    let _ = bytes;
    Err(CoreError::CorruptState(
        "serialization is not implemented yet".into(),
    ))
}
