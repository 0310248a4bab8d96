//! ferry-transform: the one place DataFusion runs in ferry.
//!
//! A [`Transform`] is compiled once per job from the reader's schema and layout, the
//! residual `where`, the transformers and the writer's schema, then applied to every batch:
//!
//! ```text
//! batch (reader schema)
//!   ─► where            physical expression; rows not matching are counted as filtered
//!   ─► layout           reader fields and constants in the job's column order
//!   ─► transformers     dx_substr / dx_pad / dx_replace / dx_filter / dx_sql
//!   ─► casts            to the writer's types; values that do not fit make the row dirty
//!   ─► batch (writer schema), without the filtered and dirty rows
//! ```
//!
//! Everything that can be checked without data is checked in [`Transform::compile`]:
//! misspelt columns, expression type errors, impossible casts, constants that do not
//! convert. Per batch there is no planning and no per-row interpretation. Every row
//! read is written, filtered or dirty: `read = written + filtered + dirty`.

mod cast;
mod constant;
mod dirty;
mod expr;
mod rechunk;
pub mod sql;
mod transformer;

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray};
use arrow::compute::{FilterBuilder, FilterPredicate};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use ferry_core::dirty::DirtyCollector;
use ferry_core::job::TransformerSpec;
use ferry_core::plugin::ColumnSlot;
use ferry_core::{Error, Result};

use crate::cast::{ColumnCast, Fault};
use crate::constant::Constant;
use crate::dirty::{BadRow, RowMap};
use crate::expr::{Compiled, Planner};
use crate::transformer::{Outcome, Step};

pub use crate::rechunk::{batch_bytes, Rechunker};
pub use crate::transformer::SUPPORTED as SUPPORTED_TRANSFORMERS;

/// Everything a transform is compiled from.
#[derive(Debug, Clone)]
pub struct TransformSpec {
    /// The reader's batch schema.
    pub source_schema: SchemaRef,
    /// The reader's logical columns (fields and constants) in job order.
    pub layout: Vec<ColumnSlot>,
    /// A `where` the reader could not push down.
    pub filter: Option<String>,
    /// DataX transformers.
    pub transformers: Vec<TransformerSpec>,
    /// The writer's schema: every output batch has exactly this schema.
    pub target_schema: SchemaRef,
    /// DataX `emptyAsNull` of the writer.
    pub empty_as_null: bool,
    /// JSON path of the reader parameters, for messages.
    pub path: String,
}

/// Where a batch came from, for dirty records.
#[derive(Debug, Clone, Copy)]
pub struct BatchOrigin<'a> {
    /// The split's description.
    pub split: &'a str,
    /// Row number of the batch's first row within the split.
    pub first_row: u64,
}

/// What applying the transform to one batch gave.
#[derive(Debug)]
pub struct TransformOutput {
    /// The rows to write, with the writer's schema; `None` when no row is left.
    pub batch: Option<RecordBatch>,
    /// Rows removed by the filter.
    pub filtered: u64,
    /// Rows sent to the dirty collector.
    pub dirty: u64,
}

/// A compiled transform.
#[derive(Debug)]
pub struct Transform {
    spec: TransformSpec,
    /// The compiled `where`, over the reader's schema.
    filter: Option<Compiled>,
    /// One entry per layout position: the constant, for constant slots.
    constants: Vec<Option<Constant>>,
    /// The layout's schema: unique column names, constants typed after the writer.
    layout_schema: SchemaRef,
    /// The transformers, in order.
    steps: Vec<Step>,
    /// One cast per writer column.
    casts: Vec<ColumnCast>,
}

/// Names of the layout columns as expressions see them: the reader's field name, or
/// `const_<position>` for a constant; a name already taken gets `_<position>` appended.
pub fn layout_names(source: &Schema, layout: &[ColumnSlot]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(layout.len());
    for (pos, slot) in layout.iter().enumerate() {
        let base = match slot {
            ColumnSlot::Source(i) if *i < source.fields().len() => source.field(*i).name().clone(),
            ColumnSlot::Source(i) => format!("field_{i}"),
            ColumnSlot::Constant(_) => format!("const_{pos}"),
        };
        let name = if names.contains(&base) {
            format!("{base}_{pos}")
        } else {
            base
        };
        names.push(name);
    }
    names
}

/// Check a `where` against a schema without building a transform (for `ferry validate`).
pub fn check_filter(schema: &Schema, where_sql: &str) -> Result<()> {
    compile_filter(schema, where_sql, "where").map(|_| ())
}

fn compile_filter(schema: &Schema, where_sql: &str, path: &str) -> Result<Compiled> {
    let planner = Planner::new(schema)?;
    let compiled = planner.compile_sql(where_sql, path, "where")?;
    if compiled.data_type != DataType::Boolean && compiled.data_type != DataType::Null {
        return Err(Error::config(format!(
            "{path}: `{where_sql}` is a {} expression, not a condition",
            compiled.data_type
        )));
    }
    Ok(compiled)
}

impl Transform {
    /// Compile; every misspelt column, expression type error, impossible cast and
    /// unconvertible constant fails here, with the JSON path.
    pub fn compile(spec: TransformSpec) -> Result<Self> {
        let source = &spec.source_schema;
        let target = &spec.target_schema;
        let path = &spec.path;
        let names = layout_names(source, &spec.layout);
        if spec.layout.len() != target.fields().len() {
            let reader: Vec<String> = spec
                .layout
                .iter()
                .zip(&names)
                .map(|(slot, n)| match slot {
                    ColumnSlot::Constant(c) => constant::display(c),
                    ColumnSlot::Source(_) => n.clone(),
                })
                .collect();
            let writer: Vec<&str> = target.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(Error::config(format!(
                "{path}.column: the reader gives {} columns [{}] but the writer takes {} [{}]; \
                 the two column lists must match one to one",
                reader.len(),
                reader.join(", "),
                writer.len(),
                writer.join(", ")
            )));
        }
        for slot in &spec.layout {
            if let ColumnSlot::Source(i) = slot {
                if *i >= source.fields().len() {
                    return Err(Error::internal(format!(
                        "{path}: layout refers to reader field {i}, the reader has {}",
                        source.fields().len()
                    )));
                }
            }
        }
        let filter = match spec.filter.as_deref().map(str::trim) {
            Some(w) if !w.is_empty() => Some(compile_filter(source, w, &format!("{path}.where"))?),
            _ => None,
        };
        let mut constants = Vec::with_capacity(spec.layout.len());
        let mut fields = Vec::with_capacity(spec.layout.len());
        for (pos, (slot, name)) in spec.layout.iter().zip(&names).enumerate() {
            let tf = target.field(pos);
            match slot {
                ColumnSlot::Source(i) => {
                    constants.push(None);
                    fields.push(Field::new(name, source.field(*i).data_type().clone(), true));
                }
                ColumnSlot::Constant(c) => {
                    let k = Constant::compile(c, tf, &format!("{path}.column[{pos}]"))?;
                    constants.push(Some(k));
                    fields.push(Field::new(name, tf.data_type().clone(), true));
                }
            }
        }
        let layout_schema = Arc::new(Schema::new(fields));
        let (steps, final_schema) =
            transformer::compile_all(&spec.transformers, Arc::clone(&layout_schema))?;
        let casts = final_schema
            .fields()
            .iter()
            .zip(target.fields())
            .enumerate()
            .map(|(pos, (from, to))| {
                ColumnCast::compile(
                    from.data_type(),
                    from.name(),
                    to,
                    spec.empty_as_null,
                    &format!("{path}.column[{pos}]"),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Transform {
            spec,
            filter,
            constants,
            layout_schema,
            steps,
            casts,
        })
    }

    /// The spec this was compiled from.
    pub fn spec(&self) -> &TransformSpec {
        &self.spec
    }

    /// The writer's schema: every output batch has it.
    pub fn output_schema(&self) -> SchemaRef {
        Arc::clone(&self.spec.target_schema)
    }

    /// Whether the transform passes batches through unchanged (no filter, no
    /// constants, no transformers, every column already of the writer's type).
    pub fn is_identity(&self) -> bool {
        self.filter.is_none()
            && self.steps.is_empty()
            && self.casts.iter().all(ColumnCast::is_noop)
            && self
                .spec
                .layout
                .iter()
                .enumerate()
                .all(|(pos, s)| *s == ColumnSlot::Source(pos))
            && self.spec.layout.len() == self.spec.source_schema.fields().len()
    }

    /// Apply to one batch.
    pub fn apply(
        &self,
        batch: RecordBatch,
        origin: BatchOrigin<'_>,
        dirty: &DirtyCollector,
    ) -> Result<TransformOutput> {
        let mut rows = RowMap::new(&batch, origin, dirty);
        let mut filtered = 0u64;
        let mut n = batch.num_rows();

        // where
        let mut predicate: Option<FilterPredicate> = None;
        if let Some(f) = &self.filter {
            let mask = f
                .evaluate_mask(&batch, "where")
                .map_err(|e| e.context(format!("{}.where", self.spec.path)))?;
            let kept = mask.true_count();
            if kept < n {
                filtered += (n - kept) as u64;
                n = kept;
                predicate = Some(FilterBuilder::new(&mask).optimize().build());
                rows.keep(mask);
            }
        }
        if n == 0 {
            return Ok(TransformOutput {
                batch: None,
                filtered,
                dirty: 0,
            });
        }

        // layout: filter each reader column once, however often the layout uses it
        let mut filtered_source: Vec<Option<ArrayRef>> = vec![None; batch.num_columns()];
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.spec.layout.len());
        for (pos, slot) in self.spec.layout.iter().enumerate() {
            let col = match (slot, &self.constants[pos]) {
                (_, Some(k)) => k.array(n)?,
                (ColumnSlot::Source(i), None) => match &filtered_source[*i] {
                    Some(a) => Arc::clone(a),
                    None => {
                        let a = match &predicate {
                            Some(p) => p.filter(batch.column(*i))?,
                            None => Arc::clone(batch.column(*i)),
                        };
                        filtered_source[*i] = Some(Arc::clone(&a));
                        a
                    }
                },
                (ColumnSlot::Constant(_), None) => {
                    return Err(Error::internal("constant slot without a compiled constant"))
                }
            };
            cols.push(col);
        }

        // transformers
        for step in &self.steps {
            let b = RecordBatch::try_new_with_options(
                Arc::clone(&step.schema),
                cols.clone(),
                &RecordBatchOptions::new().with_row_count(Some(n)),
            )?;
            match step.apply(&b)? {
                Outcome::Mapped {
                    column,
                    array,
                    failed,
                } => {
                    if !failed.is_empty() {
                        let bad: Vec<BadRow> = failed
                            .into_iter()
                            .map(|(row, reason)| BadRow {
                                row,
                                column: self.layout_schema.field(column).name().clone(),
                                value: dirty::render(&cols[column], row),
                                reason,
                            })
                            .collect();
                        cols[column] = array;
                        n = rows.drop_dirty(bad, &mut cols)?;
                    } else {
                        cols[column] = array;
                    }
                }
                Outcome::Filtered(keep) => {
                    let kept = keep.true_count();
                    if kept < n {
                        filtered += (n - kept) as u64;
                        n = kept;
                        let p = FilterBuilder::new(&keep).optimize().build();
                        for c in cols.iter_mut() {
                            *c = p.filter(c)?;
                        }
                        rows.keep(keep);
                    }
                }
            }
            if n == 0 {
                return Ok(TransformOutput {
                    batch: None,
                    filtered,
                    dirty: rows.dirty(),
                });
            }
        }

        // casts
        let mut faults: Vec<(usize, usize, Fault)> = Vec::new();
        let mut out = Vec::with_capacity(cols.len());
        let mut col_faults = Vec::new();
        for (pos, (cast, col)) in self.casts.iter().zip(&cols).enumerate() {
            col_faults.clear();
            out.push(cast.apply(col, &mut col_faults)?);
            faults.extend(col_faults.iter().map(|(row, f)| (*row, pos, *f)));
        }
        if !faults.is_empty() {
            faults.sort_by_key(|(row, pos, _)| (*row, *pos));
            faults.dedup_by_key(|(row, _, _)| *row);
            let bad: Vec<BadRow> = faults
                .into_iter()
                .map(|(row, pos, fault)| {
                    let value = dirty::render(&cols[pos], row);
                    BadRow {
                        row,
                        column: self.casts[pos].name.clone(),
                        reason: self.casts[pos].reason(fault, &value),
                        value,
                    }
                })
                .collect();
            n = rows.drop_dirty(bad, &mut out)?;
        }
        let dirty_rows = rows.dirty();
        if n == 0 {
            return Ok(TransformOutput {
                batch: None,
                filtered,
                dirty: dirty_rows,
            });
        }
        let out = RecordBatch::try_new_with_options(
            Arc::clone(&self.spec.target_schema),
            out,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )?;
        Ok(TransformOutput {
            batch: Some(out),
            filtered,
            dirty: dirty_rows,
        })
    }
}

/// Keep-mask that drops `rows` (sorted, unique) out of `n`.
fn drop_mask(n: usize, rows: &[usize]) -> BooleanArray {
    let mut keep = vec![true; n];
    for r in rows {
        if let Some(k) = keep.get_mut(*r) {
            *k = false;
        }
    }
    BooleanArray::from(keep)
}

#[cfg(test)]
mod tests;
