//! `ferry verify`: what the source gives (after `where`, constants and transforms, in the
//! writer's types) against what the target holds, as a row count and an order-independent
//! content digest.
//!
//! The digest of a set of rows is the wrapping sum of a 64-bit hash of each row's
//! canonical encoding (arrow's row format, after casting to the writer's schema): equal
//! multisets of rows give equal digests whatever the order, and a changed, missing or
//! extra row changes it (but for a 2^-64 chance).

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use ferry_core::dirty::DirtyCollector;
use ferry_core::plugin::{ReadOptions, Reader};
use ferry_core::{Error, Result};
use ferry_transform::BatchOrigin;
use futures::{StreamExt, TryStreamExt};

use crate::run::JobPlan;

/// A row count and an order-independent digest of the rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Digest {
    /// Rows.
    pub rows: u64,
    /// Wrapping sum of the rows' hashes.
    pub sum: u64,
}

impl Digest {
    /// The digest of rows with these hashes.
    fn of(hashes: &[u64]) -> Digest {
        let mut d = Digest::default();
        for &h in hashes {
            d.add_row(h);
        }
        d
    }

    fn add_row(&mut self, hash: u64) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(hash);
    }

    fn add(&mut self, other: Digest) {
        self.rows += other.rows;
        self.sum = self.sum.wrapping_add(other.sum);
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} rows, digest {:016x}", self.rows, self.sum)
    }
}

/// Digests batches of one schema.
struct Digester {
    schema: SchemaRef,
    rows: RowConverter,
}

impl Digester {
    fn new(schema: SchemaRef) -> Result<Digester> {
        let fields = schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let rows = RowConverter::new(fields)
            .map_err(|e| Error::internal(format!("verify: row encoding: {e}")))?;
        Ok(Digester { schema, rows })
    }

    /// Cast `batch`'s columns, by position, to the schema, then hash its rows.
    fn hashes(&self, batch: &RecordBatch, what: &str) -> Result<Vec<u64>> {
        let want = self.schema.fields();
        if batch.num_columns() != want.len() {
            return Err(Error::schema(format!(
                "verify: {what} has {} columns, the writer {}",
                batch.num_columns(),
                want.len()
            )));
        }
        let cols: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .zip(want.iter())
            .map(|(c, f)| {
                if c.data_type() == f.data_type() {
                    Ok(Arc::clone(c))
                } else {
                    arrow::compute::cast(c, f.data_type()).map_err(|e| {
                        Error::schema(format!(
                            "verify: {what}: column {} is {}, the writer's is {}: {e}",
                            f.name(),
                            c.data_type(),
                            f.data_type()
                        ))
                    })
                }
            })
            .collect::<Result<_>>()?;
        let rows = self
            .rows
            .convert_columns(&cols)
            .map_err(|e| Error::internal(format!("verify: row encoding: {e}")))?;
        Ok(rows
            .iter()
            .map(|row| {
                let mut h = std::hash::DefaultHasher::new();
                row.as_ref().hash(&mut h);
                h.finish()
            })
            .collect())
    }

    #[cfg(test)]
    fn digest(&self, batch: &RecordBatch, what: &str) -> Result<Digest> {
        Ok(Digest::of(&self.hashes(batch, what)?))
    }
}

/// Digests of the rows by hash bucket: where two sides differ, only the rows of the
/// buckets that differ need a closer look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets(Vec<Digest>);

/// Buckets: 4,096 (64 KiB a side); one changed row puts 1/2,048 of the rows under the
/// closer look.
const BUCKETS: usize = 4096;

fn bucket_of(hash: u64) -> usize {
    (hash >> 52) as usize
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets(vec![Digest::default(); BUCKETS])
    }
}

impl Buckets {
    fn add(&mut self, hashes: &[u64]) {
        for &h in hashes {
            self.0[bucket_of(h)].add_row(h);
        }
    }

    /// All the rows.
    fn total(&self) -> Digest {
        let mut t = Digest::default();
        for d in &self.0 {
            t.add(*d);
        }
        t
    }

    /// Which buckets differ from `other`'s, and how many rows they hold on both sides.
    pub fn differing(&self, other: &Buckets) -> (Vec<bool>, u64) {
        let mut rows = 0;
        let wanted = self
            .0
            .iter()
            .zip(other.0.iter())
            .map(|(a, b)| {
                let differ = a != b;
                if differ {
                    rows += a.rows + b.rows;
                }
                differ
            })
            .collect();
        (wanted, rows)
    }
}

/// Read every split of the source as a run would (the transform applied) and hand each
/// batch's row hashes to `each` with the split's position in the plan. Returns the
/// records the transform filtered and found dirty.
async fn scan_source(
    plan: &JobPlan,
    digester: &Digester,
    each: &(dyn Fn(usize, &[u64]) + Sync),
) -> Result<(u64, u64)> {
    let dirty = DirtyCollector::in_memory();
    let filtered: Vec<u64> =
        futures::stream::iter(plan.splits.iter().enumerate().map(|(pos, split)| {
            let dirty = dirty.clone();
            async move {
                let mut stream = plan.reader.read(split, ReadOptions::default()).await?;
                let mut filtered = 0u64;
                let mut row = 0u64;
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    let n = batch.num_rows() as u64;
                    let out = plan.transform.apply(
                        batch,
                        BatchOrigin {
                            split: &split.description,
                            first_row: row,
                        },
                        &dirty,
                    )?;
                    row += n;
                    filtered += out.filtered;
                    if let Some(b) = out.batch {
                        each(pos, &digester.hashes(&b, &split.description)?);
                    }
                }
                Ok::<_, Error>(filtered)
            }
        }))
        .buffer_unordered(plan.channels.max(1))
        .try_collect()
        .await?;
    Ok((filtered.iter().sum(), dirty.count()))
}

/// Read every split of `target` and hand each batch's row hashes to `each`.
async fn scan_target(
    target: &dyn Reader,
    digester: &Digester,
    channels: usize,
    each: &(dyn Fn(&[u64]) + Sync),
) -> Result<()> {
    let splits = target.plan(channels.max(1)).await?;
    futures::stream::iter(splits.iter().map(|split| async move {
        let mut stream = target.read(split, ReadOptions::default()).await?;
        while let Some(batch) = stream.next().await {
            each(&digester.hashes(&batch?, "the target")?);
        }
        Ok::<_, Error>(())
    }))
    .buffer_unordered(channels.max(1))
    .try_collect::<Vec<()>>()
    .await?;
    Ok(())
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The source side: every split read and transformed as a run would, in the writer's
/// schema. Returns the digest per split (in split order) and the records the transform
/// filtered or found dirty (a run does not write those either).
pub async fn source_digests(plan: &JobPlan) -> Result<SourceDigest> {
    let digester = Digester::new(plan.writer.schema())?;
    let splits = Mutex::new(vec![Digest::default(); plan.splits.len()]);
    let buckets = Mutex::new(Buckets::default());
    let (filtered, dirty) = scan_source(plan, &digester, &|pos, hashes| {
        if let Some(s) = locked(&splits).get_mut(pos) {
            s.add(Digest::of(hashes));
        }
        locked(&buckets).add(hashes);
    })
    .await?;
    let splits = splits.into_inner().unwrap_or_else(|p| p.into_inner());
    let buckets = buckets.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok(SourceDigest {
        total: buckets.total(),
        splits: plan.splits.iter().map(|s| s.index).zip(splits).collect(),
        buckets,
        filtered,
        dirty,
    })
}

/// What the source gives.
#[derive(Debug, Clone, Default)]
pub struct SourceDigest {
    /// All splits.
    pub total: Digest,
    /// Per split index.
    pub splits: Vec<(usize, Digest)>,
    /// All splits, by hash bucket.
    pub buckets: Buckets,
    /// Records the job's `where` / transformers drop.
    pub filtered: u64,
    /// Records the transform rejects (a run reports them as dirty).
    pub dirty: u64,
}

/// The target side: every split of `target` (a reader over what the writer wrote, with
/// the writer's columns in order), cast to `schema`; in total and by hash bucket.
pub async fn target_digest(
    target: &dyn Reader,
    schema: SchemaRef,
    channels: usize,
) -> Result<(Digest, Buckets)> {
    let digester = Digester::new(schema)?;
    let buckets = Mutex::new(Buckets::default());
    scan_target(target, &digester, channels, &|hashes| {
        locked(&buckets).add(hashes);
    })
    .await?;
    let buckets = buckets.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok((buckets.total(), buckets))
}

/// Where the two sides differ, from a second read of the rows in the `differing` buckets.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Located {
    /// Per split (position in the plan, index, description, its rows): the rows the
    /// source gives that the target does not hold.
    pub missing: Vec<SplitMismatch>,
    /// Rows the target holds that the source does not give.
    pub extra: u64,
}

/// One split with rows missing from the target.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SplitMismatch {
    /// The split's index.
    pub index: usize,
    /// Its description (`id >= 1 AND id < 26`, ...).
    pub description: String,
    /// Rows the source gives for it.
    pub rows: u64,
    /// How many of them the target does not hold.
    pub missing: u64,
}

/// Read both sides again, keeping the hashes of the rows in the `differing` buckets only,
/// and say which split each row the target lacks came from (a changed row counts as one
/// missing from its split and one extra in the target).
pub async fn locate(
    plan: &JobPlan,
    source: &SourceDigest,
    target: &dyn Reader,
    differing: &[bool],
) -> Result<Located> {
    let digester = Digester::new(plan.writer.schema())?;
    let wanted = |h: u64| differing.get(bucket_of(h)).copied().unwrap_or(false);
    let src: Mutex<Vec<(u64, usize)>> = Mutex::default();
    scan_source(plan, &digester, &|pos, hashes| {
        locked(&src).extend(hashes.iter().filter(|h| wanted(**h)).map(|h| (*h, pos)));
    })
    .await?;
    let tgt: Mutex<Vec<u64>> = Mutex::default();
    scan_target(target, &digester, plan.channels, &|hashes| {
        locked(&tgt).extend(hashes.iter().filter(|h| wanted(**h)));
    })
    .await?;
    let mut src = src.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut tgt = tgt.into_inner().unwrap_or_else(|p| p.into_inner());
    src.sort_unstable();
    tgt.sort_unstable();
    let mut missing = vec![0u64; plan.splits.len()];
    let mut extra = 0u64;
    let (mut i, mut j) = (0, 0);
    while i < src.len() || j < tgt.len() {
        let h = match (src.get(i), tgt.get(j)) {
            (Some(a), Some(b)) => a.0.min(*b),
            (Some(a), None) => a.0,
            (None, Some(b)) => *b,
            (None, None) => break,
        };
        let s_from = i;
        while src.get(i).is_some_and(|a| a.0 == h) {
            i += 1;
        }
        let mut in_target = 0usize;
        while tgt.get(j).is_some_and(|b| *b == h) {
            j += 1;
            in_target += 1;
        }
        let in_source = i - s_from;
        // The source's copies beyond the target's are missing, from their splits.
        for (_, pos) in src[s_from..i].iter().skip(in_target) {
            if let Some(m) = missing.get_mut(*pos) {
                *m += 1;
            }
        }
        extra += in_target.saturating_sub(in_source) as u64;
    }
    Ok(Located {
        missing: plan
            .splits
            .iter()
            .zip(missing)
            .zip(source.splits.iter())
            .filter(|((_, m), _)| *m > 0)
            .map(|((split, m), (_, d))| SplitMismatch {
                index: split.index,
                description: split.description.clone(),
                rows: d.rows,
                missing: m,
            })
            .collect(),
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(ids: &[i64], names: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(ids.to_vec())),
                Arc::new(StringArray::from(names.to_vec())),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_digest_ignores_order_and_sees_a_changed_row() -> Result<()> {
        let a = batch(&[1, 2, 3], &["a", "b", "c"]);
        let d = Digester::new(a.schema())?;
        let x = d.digest(&a, "a")?;
        let y = d.digest(&batch(&[3, 1, 2], &["c", "a", "b"]), "b")?;
        assert_eq!(x, y);
        let z = d.digest(&batch(&[3, 1, 2], &["c", "a", "B"]), "c")?;
        assert_eq!(z.rows, 3);
        assert_ne!(x.sum, z.sum);
        // Split differently, summed: the same.
        let mut parts = d.digest(&batch(&[1], &["a"]), "p")?;
        parts.add(d.digest(&batch(&[2, 3], &["b", "c"]), "q")?);
        assert_eq!(parts, x);
        Ok(())
    }

    #[test]
    fn columns_are_cast_to_the_writer_types() -> Result<()> {
        let want = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let d = Digester::new(want)?;
        let ints = d.digest(&batch(&[1, 2], &["a", "b"]), "ints")?;
        let text = RecordBatch::try_new(
            d.schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["1", "2"])),
                Arc::new(StringArray::from(vec!["a", "b"])),
            ],
        )
        .map_err(|e| Error::internal(e.to_string()))?;
        assert_eq!(ints, d.digest(&text, "text")?);
        Ok(())
    }
}
