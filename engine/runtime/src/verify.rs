//! `ferry verify`: what the source gives (after `where`, constants and transforms, in the
//! writer's types) against what the target holds, as a row count and an order-independent
//! content digest.
//!
//! The digest of a set of rows is the wrapping sum of a 64-bit hash of each row's
//! canonical encoding (arrow's row format, after casting to the writer's schema): equal
//! multisets of rows give equal digests whatever the order, and a changed, missing or
//! extra row changes it (but for a 2^-64 chance).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

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

    /// Cast `batch`'s columns, by position, to the schema, then digest its rows.
    fn digest(&self, batch: &RecordBatch, what: &str) -> Result<Digest> {
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
        let mut d = Digest::default();
        for row in rows.iter() {
            let mut h = std::hash::DefaultHasher::new();
            row.as_ref().hash(&mut h);
            d.rows += 1;
            d.sum = d.sum.wrapping_add(h.finish());
        }
        Ok(d)
    }
}

/// The source side: every split read and transformed as a run would, in the writer's
/// schema. Returns the digest per split (in split order) and the records the transform
/// filtered or found dirty (a run does not write those either).
pub async fn source_digests(plan: &JobPlan) -> Result<SourceDigest> {
    let digester = Arc::new(Digester::new(plan.writer.schema())?);
    let dirty = DirtyCollector::in_memory();
    let results: Vec<(usize, Digest, u64)> =
        futures::stream::iter(plan.splits.iter().map(|split| {
            let digester = Arc::clone(&digester);
            let dirty = dirty.clone();
            async move {
                let mut stream = plan.reader.read(split, ReadOptions::default()).await?;
                let mut d = Digest::default();
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
                        d.add(digester.digest(&b, &split.description)?);
                    }
                }
                Ok::<_, Error>((split.index, d, filtered))
            }
        }))
        .buffer_unordered(plan.channels.max(1))
        .try_collect()
        .await?;
    let mut out = SourceDigest::default();
    let mut splits: Vec<(usize, Digest)> = Vec::new();
    for (i, d, f) in results {
        out.total.add(d);
        out.filtered += f;
        splits.push((i, d));
    }
    splits.sort_by_key(|s| s.0);
    out.splits = splits;
    out.dirty = dirty.count();
    Ok(out)
}

/// What the source gives.
#[derive(Debug, Clone, Default)]
pub struct SourceDigest {
    /// All splits.
    pub total: Digest,
    /// Per split index.
    pub splits: Vec<(usize, Digest)>,
    /// Records the job's `where` / transformers drop.
    pub filtered: u64,
    /// Records the transform rejects (a run reports them as dirty).
    pub dirty: u64,
}

/// The target side: every split of `target` (a reader over what the writer wrote, with
/// the writer's columns in order), cast to `schema`.
pub async fn target_digest(
    target: &dyn Reader,
    schema: SchemaRef,
    channels: usize,
) -> Result<Digest> {
    let digester = Arc::new(Digester::new(schema)?);
    let splits = target.plan(channels.max(1)).await?;
    let parts: Vec<Digest> = futures::stream::iter(splits.iter().map(|split| {
        let digester = Arc::clone(&digester);
        async move {
            let mut stream = target.read(split, ReadOptions::default()).await?;
            let mut d = Digest::default();
            while let Some(batch) = stream.next().await {
                d.add(digester.digest(&batch?, "the target")?);
            }
            Ok::<_, Error>(d)
        }
    }))
    .buffer_unordered(channels.max(1))
    .try_collect()
    .await?;
    let _ = target.close().await;
    let mut total = Digest::default();
    for d in parts {
        total.add(d);
    }
    Ok(total)
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
