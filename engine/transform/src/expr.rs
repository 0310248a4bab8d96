//! DataFusion glue: SQL text or [`Expr`] in, a [`PhysicalExpr`] compiled once out.
//!
//! Every expression the transform evaluates (the residual `where`, `dx_sql`, the other
//! `dx_*` transformers) is planned here, against the schema of the batches it will see,
//! before any data moves. Errors are turned into ferry errors that name the column,
//! the expression and the JSON path, with the nearest valid column when one is close.

use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, BooleanArray};
use arrow::compute::prep_null_mask_filter;
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, DataFusionError, SchemaError};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::Expr;
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;
use ferry_core::{Error, Result};

/// An expression compiled against one schema, ready to evaluate per batch.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    /// The physical expression.
    pub expr: Arc<dyn PhysicalExpr>,
    /// Its result type over the schema it was compiled for.
    pub data_type: DataType,
}

impl Compiled {
    /// Evaluate over a batch with the schema this was compiled against.
    pub fn evaluate(&self, batch: &RecordBatch, what: &str) -> Result<ArrayRef> {
        let value = self
            .expr
            .evaluate(batch)
            .map_err(|e| Error::data(format!("{what}: {}", df_message(&e))))?;
        value
            .into_array(batch.num_rows())
            .map_err(|e| Error::data(format!("{what}: {}", df_message(&e))))
    }

    /// Evaluate a boolean expression; NULL counts as false.
    pub fn evaluate_mask(&self, batch: &RecordBatch, what: &str) -> Result<BooleanArray> {
        let arr = self.evaluate(batch, what)?;
        let mask = arr.as_any().downcast_ref::<BooleanArray>().ok_or_else(|| {
            Error::internal(format!(
                "{what}: expected a boolean, got {}",
                arr.data_type()
            ))
        })?;
        Ok(if mask.null_count() > 0 {
            prep_null_mask_filter(mask)
        } else {
            mask.clone()
        })
    }
}

/// A planning context: one DataFusion session and the schema expressions see.
pub(crate) struct Planner {
    ctx: SessionContext,
    schema: DFSchema,
}

impl Planner {
    /// A planner over `schema`.
    pub fn new(schema: &Schema) -> Result<Self> {
        let schema = DFSchema::try_from(schema.clone())
            .map_err(|e| Error::schema(format!("transform schema: {}", df_message(&e))))?;
        Ok(Planner {
            ctx: SessionContext::new(),
            schema,
        })
    }

    /// Parse and compile SQL text (`year > 1990`, `upper(name) || '-' || year`).
    /// `path` and `what` go into error messages.
    pub fn compile_sql(&self, sql: &str, path: &str, what: &str) -> Result<Compiled> {
        let expr = self
            .ctx
            .parse_sql_expr(sql, &self.schema)
            .map_err(|e| self.explain(&e, sql, path, what))?;
        self.compile_expr(expr, sql, path, what)
    }

    /// Compile a logical expression (coercing types as DataFusion's planner does).
    /// The expression is simplified first (constant folding, `coalesce` into `CASE`,
    /// `now()` fixed at the job's start), then every part of it that reads no column
    /// is evaluated once, so a literal of the wrong type (`year > 'abc'`) fails here,
    /// and the whole expression is evaluated over one row of NULLs to surface planner
    /// gaps that no data can cause.
    pub fn compile_expr(&self, expr: Expr, text: &str, path: &str, what: &str) -> Result<Compiled> {
        let fail = |e: &DataFusionError| self.explain(e, text, path, what);
        let context = SimplifyContext::builder()
            .with_schema(Arc::new(self.schema.clone()))
            .with_config_options(Arc::clone(self.ctx.state().config_options()))
            .with_current_time()
            .build();
        let simplifier = ExprSimplifier::new(context);
        let expr = simplifier
            .coerce(expr, &self.schema)
            .map_err(|e| fail(&e))?;
        let expr = simplifier.simplify(expr).map_err(|e| fail(&e))?;
        let physical = self
            .ctx
            .create_physical_expr(expr, &self.schema)
            .map_err(|e| fail(&e))?;
        let data_type = physical
            .data_type(self.schema.as_arrow())
            .map_err(|e| fail(&e))?;
        self.probe(&physical).map_err(|e| fail(&e))?;
        Ok(Compiled {
            expr: physical,
            data_type,
        })
    }

    /// Evaluate the column-free parts of `expr` once, and the whole of it over a row of
    /// NULLs (where only errors that no data can cause count).
    fn probe(&self, expr: &Arc<dyn PhysicalExpr>) -> datafusion::common::Result<()> {
        let one_row = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )?;
        let mut first_error = None;
        expr.apply(|node| {
            if collect_columns(node).is_empty() {
                if let Err(e) = node.evaluate(&one_row) {
                    first_error = Some(e);
                    return Ok(TreeNodeRecursion::Stop);
                }
                return Ok(TreeNodeRecursion::Jump);
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        if let Some(e) = first_error {
            return Err(e);
        }
        let schema = self.schema.inner();
        let nulls = schema
            .fields()
            .iter()
            .map(|f| new_null_array(f.data_type(), 1))
            .collect();
        let null_row = RecordBatch::try_new_with_options(
            Arc::new(Schema::new(
                schema
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect::<Vec<_>>(),
            )),
            nulls,
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )?;
        match expr.evaluate(&null_row) {
            Err(e) => match e.find_root() {
                DataFusionError::Internal(_)
                | DataFusionError::NotImplemented(_)
                | DataFusionError::Plan(_) => Err(e),
                _ => Ok(()),
            },
            Ok(_) => Ok(()),
        }
    }

    /// Column names, for messages.
    pub fn column_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// Turn a DataFusion planning error into a ferry config error with the path,
    /// the expression, and for an unknown column the available ones.
    fn explain(&self, e: &DataFusionError, text: &str, path: &str, what: &str) -> Error {
        let available = self.column_names();
        if let Some(name) = missing_column(e) {
            let hint = nearest(&name, &available)
                .map(|n| format!(", did you mean \"{n}\"?"))
                .unwrap_or_default();
            return Error::config(format!(
                "{path}: no column \"{name}\" in {what} `{text}`{hint} (available columns: {})",
                available.join(", ")
            ));
        }
        Error::config(format!(
            "{path}: {what} `{text}` is not valid: {} (available columns: {})",
            df_message(e),
            available.join(", ")
        ))
    }
}

/// The unknown column of a "field not found" error, if that is what `e` is.
fn missing_column(e: &DataFusionError) -> Option<String> {
    let mut cur = e;
    loop {
        match cur {
            DataFusionError::SchemaError(inner, _) => {
                if let SchemaError::FieldNotFound { field, .. } = inner.as_ref() {
                    return Some(field.name.clone());
                }
                return None;
            }
            DataFusionError::Context(_, inner) => cur = inner,
            DataFusionError::Diagnostic(_, inner) => cur = inner,
            _ => {
                let root = cur.find_root();
                if std::ptr::eq(root, cur) {
                    return None;
                }
                cur = root;
            }
        }
    }
}

/// The closest name by edit distance, when it is close enough to be a typo.
pub(crate) fn nearest(name: &str, candidates: &[String]) -> Option<String> {
    let lower = name.to_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

/// A DataFusion error's message without backtrace.
pub(crate) fn df_message(e: &DataFusionError) -> String {
    e.strip_backtrace()
}
