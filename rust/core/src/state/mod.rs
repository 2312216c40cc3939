//! Mergeable accumulator state: the [`AccumulatorState`] an accumulator holds, and (in [`format`](mod@format)) its
//! durable byte format.
//!
//! A state is the sufficient statistic of every metric over a stream of rows: its scale,
//! weighting and key count, the segmented tallies (an [`KeyedTallies`], absent until the first
//! update fixes the key types) and, for weighted data, the random streams of its
//! Poisson-bootstrap replicates. Its fields are private so that the tallies always agree with
//! them: one constructor lays out the aggregator, and the codec builds states the same way.
//!
//! May use: `aggregator`, `tally`, `group`, `streams`, `scale`, `exact_sum`, `error`.

pub mod definition;
pub mod format;

pub use definition::Definition;
pub use format::{
    crc32, decode, decode_accumulator, encode, encode_accumulator, FORMAT_VERSION, MAGIC, MAX_KEYS,
};

use arrow_schema::DataType;

use crate::error::{CoreError, Result};
use crate::keyed_tallies::KeyedTallies;
use crate::scale::Scale;
use crate::streams::ReplicateStreams;
use crate::tally::Columns;

/// Everything an accumulator holds. `aggregator` is `None` until the first update fixes the
/// key types; such an empty state is the identity of `merge`.
#[derive(Clone)]
pub struct AccumulatorState {
    scale: Scale,
    weighted: bool,
    n_keys: usize,
    aggregator: Option<KeyedTallies>,
    /// Poisson-bootstrap replicates and their random streams (weighted states only).
    streams: Option<ReplicateStreams>,
}

impl AccumulatorState {
    /// An empty state; `streams` (weighted only) keeps Poisson-bootstrap replicates.
    pub fn new(
        scale: Scale,
        weighted: bool,
        n_keys: usize,
        streams: Option<ReplicateStreams>,
    ) -> Result<Self> {
        if streams.is_some() && !weighted {
            return Err(CoreError::InvalidArgument(
                "bootstrap replicates are for weighted data (give a weight column); unweighted \
                 accumulators bootstrap exactly from their histograms"
                    .into(),
            ));
        }
        Ok(Self {
            scale,
            weighted,
            n_keys,
            aggregator: None,
            streams,
        })
    }

    /// The unweighted state whose segments an estimate listed: `keys` in key order (logical
    /// types), per segment `scale.points()` counts in `distribution`, its `missing` and
    /// `invalid` rows (see [`KeyedTallies::from_segment_counts`]). Encodes to the same bytes as
    /// the state the estimate was made from.
    pub fn from_segment_counts(
        scale: Scale,
        keys: &[arrow_array::ArrayRef],
        distribution: &[u64],
        missing: &[u64],
        invalid: &[u64],
    ) -> Result<Self> {
        let aggregator =
            KeyedTallies::from_segment_counts(scale, keys, distribution, missing, invalid)?;
        Ok(Self {
            scale,
            weighted: false,
            n_keys: keys.len(),
            aggregator: Some(aggregator),
            streams: None,
        })
    }

    /// Poisson-bootstrap replicates kept (0 = none).
    pub fn replicates(&self) -> usize {
        self.streams.as_ref().map_or(0, |s| s.replicates)
    }

    /// The rating scale.
    pub fn scale(&self) -> Scale {
        self.scale
    }

    /// Whether the rows are weighted.
    pub fn weighted(&self) -> bool {
        self.weighted
    }

    /// Number of segment key columns.
    pub fn n_keys(&self) -> usize {
        self.n_keys
    }

    /// The tallies, once the first update has fixed the key types (None before).
    pub fn aggregator(&self) -> Option<&KeyedTallies> {
        self.aggregator.as_ref()
    }

    /// The replicates' random streams (None without replicates).
    pub fn streams(&self) -> Option<&ReplicateStreams> {
        self.streams.as_ref()
    }

    /// An empty aggregator laid out for this state (keys of type Null until data fixes them).
    pub fn empty_aggregator(&self) -> Result<KeyedTallies> {
        self.new_aggregator(vec![DataType::Null; self.n_keys])
    }

    /// An empty aggregator for this state's scale, weighting and replicates, keyed by `types`:
    /// the one place a state's aggregator is laid out, so the two always agree.
    fn new_aggregator(&self, types: Vec<DataType>) -> Result<KeyedTallies> {
        if types.len() != self.n_keys {
            return Err(CoreError::InvalidArgument(format!(
                "expected {} key column(s), got {}",
                self.n_keys,
                types.len()
            )));
        }
        Ok(KeyedTallies::new(self.scale, Some(types), self.weighted)?
            .with_replicates(self.replicates()))
    }

    /// Adds the rows of `columns` (keys of `key_types`). All-or-nothing: on error the state,
    /// its tallies and its random streams are unchanged.
    pub fn update(
        &mut self,
        columns: &Columns,
        key_types: Vec<DataType>,
        drop_invalid: bool,
        row_offset: u64,
    ) -> Result<()> {
        // The column count is checked by the aggregator (or `new_aggregator` for the first).
        let draw = self.streams.as_ref().map(ReplicateStreams::next_draw);
        let key = draw.map(|d| d.key);
        match self.aggregator.as_mut() {
            Some(agg) => {
                agg.update_keyed(columns, Some(key_types), drop_invalid, row_offset, key)?
            }
            None => {
                // Built aside and stored only on success, so a failed first update leaves the
                // state empty.
                let mut fresh = self.new_aggregator(key_types)?;
                fresh.update_drawing(columns, drop_invalid, row_offset, key)?;
                self.aggregator = Some(fresh);
            }
        }
        if let (Some(streams), Some(draw)) = (self.streams.as_mut(), draw) {
            streams.commit(draw);
        }
        Ok(())
    }

    /// The state holding both inputs' rows; an empty state is the identity on both sides.
    pub fn merge(&self, other: &AccumulatorState) -> Result<AccumulatorState> {
        if self.scale != other.scale
            || self.weighted != other.weighted
            || self.n_keys != other.n_keys
        {
            return Err(CoreError::InvalidArgument(
                "cannot merge accumulators of different scales, keys or weighting".into(),
            ));
        }
        let streams = match (&self.streams, &other.streams) {
            (None, None) => None,
            (Some(a), Some(b)) => Some(a.merge(b)?),
            _ => {
                return Err(CoreError::InvalidArgument(
                    "cannot merge an accumulator with bootstrap replicates and one without".into(),
                ))
            }
        };
        let aggregator = match (&self.aggregator, &other.aggregator) {
            (Some(a), Some(b)) => {
                let mut a = a.clone();
                a.merge(b)?;
                Some(a)
            }
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        Ok(AccumulatorState {
            aggregator,
            streams,
            ..self.clone()
        })
    }

    /// A copy whose replicates draw from stream `stream` (before any draw; see
    /// [`ReplicateStreams::with_stream`]).
    pub fn with_stream(&self, stream: u64) -> Result<AccumulatorState> {
        let streams = match &self.streams {
            Some(s) => Some(s.with_stream(stream)?),
            None => None,
        };
        Ok(AccumulatorState {
            streams,
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests;
