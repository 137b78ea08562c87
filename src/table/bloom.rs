//! Parquet split-block bloom filters, read from a data file and probed by a precomputed hash:
//! the id index probes `events.id`, the ledger `source_objects.source_object`. A filter says
//! "surely absent" or "maybe present"; every caller confirms a "maybe" by reading the column.
//!
//! Spec: <https://github.com/apache/parquet-format/blob/master/BloomFilter.md> (xxHash64 with
//! seed 0 over the value's bytes; block index from the hash's upper half, eight salted bits
//! of its lower half in one 256-bit block).

use std::sync::Arc;

use object_store::path::Path;
use object_store::ObjectStore;

use crate::error::{Error, Result};
use crate::table::data_file;

/// The hash a filter is probed with, for a value's bytes.
pub fn hash(bytes: &[u8]) -> u64 {
    twox_hash::XxHash64::oneshot(0, bytes)
}

/// One row group's filter of one column.
pub struct ColumnFilter {
    blocks: Vec<[u32; 8]>,
}

impl ColumnFilter {
    /// The salts of the spec's block insert and check.
    const SALT: [u32; 8] = [
        0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947,
        0x5c6bfb31,
    ];

    pub fn from_sbbf(sbbf: &parquet::bloom_filter::Sbbf) -> Result<Self> {
        let mut bytes = Vec::with_capacity(sbbf.num_blocks() * 32);
        sbbf.write_bitset(&mut bytes)
            .map_err(|source| Error::ReadDataFile {
                path: "a bloom filter".into(),
                source,
            })?;
        let blocks = bytes
            .chunks_exact(32)
            .map(|block| {
                let mut words = [0u32; 8];
                for (word, bytes) in words.iter_mut().zip(block.chunks_exact(4)) {
                    *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                }
                words
            })
            .collect();
        Ok(Self { blocks })
    }

    /// An empty filter sized for `capacity` values at false-positive rate `fpp` (the sizing
    /// parquet-rs uses, without rounding to a power of two).
    pub fn with_capacity(capacity: usize, fpp: f64) -> Self {
        let bits = -(capacity.max(1) as f64) * fpp.ln() / std::f64::consts::LN_2.powi(2);
        let blocks = ((bits / 256.0).ceil() as usize).max(1);
        Self {
            blocks: vec![[0; 8]; blocks],
        }
    }

    pub fn bytes(&self) -> usize {
        self.blocks.len() * 32
    }

    fn block_of(&self, hash: u64) -> usize {
        (((hash >> 32) * self.blocks.len() as u64) >> 32) as usize
    }

    /// Sets the bits of the value whose [`hash`] this is (the spec's block insert).
    pub fn insert(&mut self, hash: u64) {
        let index = self.block_of(hash);
        let key = hash as u32;
        for (salt, word) in Self::SALT.iter().zip(&mut self.blocks[index]) {
            *word |= 1 << (key.wrapping_mul(*salt) >> 27);
        }
    }

    /// False when the value whose [`hash`] this is was never inserted.
    pub fn might_hold(&self, hash: u64) -> bool {
        if self.blocks.is_empty() {
            return true;
        }
        let block = &self.blocks[self.block_of(hash)];
        let key = hash as u32;
        Self::SALT
            .iter()
            .zip(block)
            .all(|(salt, word)| word & (1 << (key.wrapping_mul(*salt) >> 27)) != 0)
    }
}

/// A data file's row groups' filters of one column; `None` where a row group has none (a file
/// written before filters were, or by another writer): its values must be read.
pub struct FileFilters {
    pub row_groups: Vec<Option<ColumnFilter>>,
}

impl FileFilters {
    pub fn bytes(&self) -> usize {
        self.row_groups
            .iter()
            .map(|filter| filter.as_ref().map_or(0, ColumnFilter::bytes) + 8)
            .sum()
    }

    /// The row groups that may hold the value with this hash.
    pub fn row_groups_holding(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        self.row_groups
            .iter()
            .enumerate()
            .filter(move |(_, filter)| filter.as_ref().is_none_or(|f| f.might_hold(hash)))
            .map(|(row_group, _)| row_group)
    }
}

/// Reads a data file's footer and each row group's filter of `column`.
pub async fn read_filters(
    store: Arc<dyn ObjectStore>,
    location: &Path,
    column: &str,
) -> Result<FileFilters> {
    let failed = |source| Error::ReadDataFile {
        path: location.to_string(),
        source,
    };
    let mut builder = data_file::open(store, location).await?;
    let column_index = builder
        .parquet_schema()
        .columns()
        .iter()
        .position(|leaf| leaf.path().string() == column);
    let row_group_count = builder.metadata().num_row_groups();
    let mut row_groups = Vec::with_capacity(row_group_count);
    for row_group in 0..row_group_count {
        let filter = match column_index {
            Some(index) => builder
                .get_row_group_column_bloom_filter(row_group, index)
                .await
                .map_err(failed)?,
            None => None,
        };
        row_groups.push(filter.as_ref().map(ColumnFilter::from_sbbf).transpose()?);
    }
    Ok(FileFilters { row_groups })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_row_group_without_a_filter_may_hold_anything() {
        let mut sbbf = parquet::bloom_filter::Sbbf::new_with_ndv_fpp(10, 0.0001).unwrap();
        sbbf.insert("a");
        let file = FileFilters {
            row_groups: vec![Some(ColumnFilter::from_sbbf(&sbbf).unwrap()), None],
        };
        assert_eq!(
            file.row_groups_holding(hash(b"a")).collect::<Vec<_>>(),
            [0, 1]
        );
        assert_eq!(
            file.row_groups_holding(hash(b"zz")).collect::<Vec<_>>(),
            [1]
        );
    }

    proptest! {
        /// A filter built here holds every value inserted, and says "absent" to nearly every
        /// other at the rate it was sized for.
        #[test]
        fn a_built_filter_holds_what_it_was_given(
            inserted in proptest::collection::hash_set(".{1,40}", 1..400),
        ) {
            let mut filter = ColumnFilter::with_capacity(inserted.len(), 0.001);
            for value in &inserted {
                filter.insert(hash(value.as_bytes()));
            }
            for value in &inserted {
                prop_assert!(filter.might_hold(hash(value.as_bytes())));
            }
            let false_hits = (0..10_000u32)
                .filter(|n| filter.might_hold(hash(format!("\u{0}{n}").as_bytes())))
                .count();
            prop_assert!(false_hits < 100, "{false_hits} of 10,000 absent values hit");
        }

        /// The probe agrees with parquet-rs' own filter on every value: nothing it inserted is
        /// missed, and a "maybe" is the same "maybe".
        #[test]
        fn the_probe_answers_as_parquet_does(
            inserted in proptest::collection::vec(".{0,40}", 1..400),
            others in proptest::collection::vec(".{0,40}", 1..400),
            fpp in prop_oneof![Just(0.3), Just(0.01), Just(0.0001)],
        ) {
            let mut sbbf = parquet::bloom_filter::Sbbf::new_with_ndv_fpp(inserted.len() as u64, fpp)
                .expect("a valid fpp");
            for value in &inserted {
                sbbf.insert(value.as_str());
            }
            let filter = ColumnFilter::from_sbbf(&sbbf).expect("a bitset");
            for value in &inserted {
                prop_assert!(filter.might_hold(hash(value.as_bytes())));
            }
            for value in &others {
                prop_assert_eq!(filter.might_hold(hash(value.as_bytes())), sbbf.check(value.as_str()));
            }
        }
    }
}
