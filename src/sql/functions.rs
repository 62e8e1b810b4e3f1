//! The scalar functions span SQL needs all the time, registered on any `SessionContext` by
//! [`register`] (so a remote executor can register them too), and their documentation, which
//! the shell prints for `\df`: ids to and from hex, nanoseconds to milliseconds, and an
//! attribute lookup that tries the current semantic-convention key and the older ones.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeBinaryBuilder, Float64Array, GenericBinaryBuilder, MapArray, StringArray,
    StringBuilder,
};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{DataFusionError, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

use crate::model::builder::hex;
use crate::model::schema::HOT_COLUMNS;

type DfResult<T> = datafusion::common::Result<T>;

/// One function as `\df` lists it.
#[derive(Debug, Clone, Copy)]
pub struct FunctionDoc {
    pub name: &'static str,
    pub signature: &'static str,
    pub summary: &'static str,
    pub example: &'static str,
}

/// The functions spanlens adds to DataFusion's, in the order `\df` lists them.
pub const FUNCTIONS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "id_to_hex",
        signature: "id_to_hex(id BINARY) -> TEXT",
        summary: "a trace, span or parent id as lowercase hex (as encode(id, 'hex'))",
        example: "SELECT id_to_hex(trace_id) FROM spans LIMIT 1",
    },
    FunctionDoc {
        name: "id_from_hex",
        signature: "id_from_hex(hex TEXT) -> BINARY",
        summary: "hex text (either case) as an id; on a literal it has the id column's type, so \
                  `trace_id = id_from_hex('…')` prunes row groups by bloom filter and statistics",
        example: "SELECT name FROM spans WHERE trace_id = id_from_hex('5b8efff798038103d269b633813fc60c')",
    },
    FunctionDoc {
        name: "ns_to_ms",
        signature: "ns_to_ms(ns BIGINT) -> DOUBLE",
        summary: "nanoseconds as milliseconds",
        example: "SELECT name, ns_to_ms(duration_ns) AS ms FROM spans ORDER BY ms DESC LIMIT 5",
    },
    FunctionDoc {
        name: "attr",
        signature: "attr(attributes MAP, key TEXT [, key TEXT...]) -> TEXT",
        summary: "the value of the first key present; with one key, that key and its other \
                  semantic-convention names (http.response.status_code, then http.status_code; \
                  db.system.name, then db.system; ...)",
        example: "SELECT attr(attributes, 'http.response.status_code') AS code, count(*) FROM spans GROUP BY 1",
    },
    FunctionDoc {
        name: "derive_signals",
        signature: "derive_signals(trace_id, span_id, parent_span_id, flags, trace_state, name, kind, end_time, \
                    duration_ns, status_code, service_name, scope_name, attributes, resource_attributes) -> STRUCT[]",
        summary: "aggregate over one trace's spans (GROUP BY trace_id; over raw input or a store): its \
                  Application Signals records, as the signals table's columns and their ordinal, by the \
                  same rules as metrics; the view signals_from_spans unnests them",
        example: "SELECT trace_id, cardinality(derive_signals(trace_id, span_id, parent_span_id, flags, \
                  trace_state, name, kind, end_time, duration_ns, status_code, service_name, scope_name, attributes, \
                  resource_attributes)) AS records FROM spans_for_signals GROUP BY trace_id LIMIT 5",
    },
    FunctionDoc {
        name: "latency_percentiles",
        signature: "latency_percentiles(values DOUBLE [, weights BIGINT], p DOUBLE [, p DOUBLE...]) -> DOUBLE[]",
        summary: "aggregate: the exact percentiles p of values in each group (p·(n−1) interpolated \
                  between closest ranks, as percentile_cont; with weights, of each value repeated \
                  weight times), the metric tables' percentiles",
        example: "SELECT service_name, latency_percentiles(ns_to_ms(duration_ns), 0.5, 0.99) FROM spans GROUP BY 1",
    },
    FunctionDoc {
        name: "example_ids",
        signature: "example_ids(id BINARY, k BIGINT) -> TEXT[]",
        summary: "aggregate: the k (1 to 100) least distinct ids of each group, as lowercase hex in \
                  ascending order, NULL for a group without ids; the data-quality checks' example traces",
        example: "SELECT service_name, example_ids(trace_id, 3) FROM spans WHERE status_code = 'ERROR' GROUP BY 1",
    },
];

/// The scalar functions of [`FUNCTIONS`] (`latency_percentiles`, which the embedded queries
/// call, comes from [`crate::queries::aggregate_functions`]).
pub fn scalar_functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(IdToHex::new()),
        ScalarUDF::from(IdFromHex::new()),
        ScalarUDF::from(NsToMs::new()),
        ScalarUDF::from(Attr::new()),
    ]
}

/// Every function spanlens's SQL calls, as the roles of a cluster register them (percentiles
/// exact; `derive_signals` with the default derivation flags).
#[cfg(feature = "cluster")]
pub fn all() -> crate::cluster::Functions {
    use std::sync::Arc;
    let mut aggregate: Vec<_> = crate::queries::aggregate_functions(false).into_iter().map(Arc::new).collect();
    aggregate.push(Arc::new(crate::signals::function::derive_signals(&Default::default())));
    crate::cluster::Functions { scalar: scalar_functions().into_iter().map(Arc::new).collect(), aggregate }
}

/// Register the scalar functions of [`FUNCTIONS`] on `ctx`.
pub fn register(ctx: &SessionContext) {
    for f in scalar_functions() {
        ctx.register_udf(f);
    }
}

/// A binary column (Binary, LargeBinary, BinaryView, FixedSizeBinary) as lowercase hex text;
/// `None` for a column of another type.
pub fn hex_column(column: &dyn Array) -> Option<StringArray> {
    let hexed = |it: &mut dyn Iterator<Item = Option<&[u8]>>| it.map(|v| v.map(hex)).collect::<StringArray>();
    Some(match column.data_type() {
        DataType::Binary => hexed(&mut column.as_binary::<i32>().iter()),
        DataType::LargeBinary => hexed(&mut column.as_binary::<i64>().iter()),
        DataType::BinaryView => hexed(&mut column.as_binary_view().iter()),
        DataType::FixedSizeBinary(_) => hexed(&mut column.as_fixed_size_binary().iter()),
        _ => return None,
    })
}

/// Bytes of hex text, either case; `None` for text that is not hex.
fn unhex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes.chunks(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

/// Run `f` over the arguments as arrays; when every argument is a scalar, the result is one too.
fn apply(args: &ScalarFunctionArgs, f: impl Fn(&[ArrayRef]) -> DfResult<ArrayRef>) -> DfResult<ColumnarValue> {
    let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays = ColumnarValue::values_to_arrays(&args.args)?;
    let out = f(&arrays)?;
    Ok(match scalar {
        true => ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?),
        false => ColumnarValue::Array(out),
    })
}

fn is_binary(t: &DataType) -> bool {
    matches!(t, DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_))
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null)
        || matches!(t, DataType::Dictionary(_, v) if is_text(v))
}

/// `id_to_hex(id)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct IdToHex {
    signature: Signature,
}

impl IdToHex {
    fn new() -> Self {
        IdToHex { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for IdToHex {
    fn name(&self) -> &str {
        "id_to_hex"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        match arg_types {
            [t] if is_binary(t) => Ok(vec![t.clone()]),
            [DataType::Null] => Ok(vec![DataType::Binary]),
            _ => plan_err!("id_to_hex(id): id must be binary (trace_id, span_id, parent_span_id), got {arg_types:?}"),
        }
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        apply(&args, |a| {
            hex_column(a[0].as_ref())
                .map(|s| Arc::new(s) as ArrayRef)
                .ok_or_else(|| DataFusionError::Execution(format!("id_to_hex: {} is not binary", a[0].data_type())))
        })
    }
}

/// `id_from_hex(text)`: on a literal, `FixedSizeBinary` of its length (the id columns' type, so
/// a comparison with one keeps the column as it is and prunes); otherwise `Binary`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct IdFromHex {
    signature: Signature,
}

impl IdFromHex {
    fn new() -> Self {
        IdFromHex { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

fn literal_text(v: &ScalarValue) -> Option<Option<&str>> {
    match v {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => Some(s.as_deref()),
        ScalarValue::Null => Some(None),
        _ => None,
    }
}

impl ScalarUDFImpl for IdFromHex {
    fn name(&self) -> &str {
        "id_from_hex"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        match arg_types {
            [t] if is_text(t) => Ok(vec![DataType::Utf8]),
            _ => plan_err!("id_from_hex(hex): hex must be text, got {arg_types:?}"),
        }
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Binary)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let ty = match args.scalar_arguments.first().copied().flatten().and_then(literal_text) {
            Some(Some(text)) => match unhex(text) {
                Some(bytes) if !bytes.is_empty() => DataType::FixedSizeBinary(bytes.len() as i32),
                _ => return plan_err!("id_from_hex: {text:?} is not an id in hex (an even number of 0-9, a-f)"),
            },
            _ => DataType::Binary,
        };
        Ok(Arc::new(Field::new(self.name(), ty, true)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let width = match args.return_field.data_type() {
            DataType::FixedSizeBinary(n) => Some(*n),
            _ => None,
        };
        apply(&args, |a| {
            let texts = arrow::compute::cast(&a[0], &DataType::Utf8)?;
            let bytes = texts.as_string::<i32>().iter().map(|t| match t {
                None => Ok(None),
                Some(t) => unhex(t).map(Some).ok_or_else(|| {
                    DataFusionError::Execution(format!(
                        "id_from_hex: {t:?} is not an id in hex (an even number of 0-9, a-f)"
                    ))
                }),
            });
            Ok(match width {
                Some(width) => {
                    let mut b = FixedSizeBinaryBuilder::new(width);
                    for v in bytes {
                        match v? {
                            Some(v) => b.append_value(v)?,
                            None => b.append_null(),
                        }
                    }
                    Arc::new(b.finish())
                }
                None => {
                    let mut b = GenericBinaryBuilder::<i32>::new();
                    for v in bytes {
                        b.append_option(v?);
                    }
                    Arc::new(b.finish())
                }
            })
        })
    }
}

/// `ns_to_ms(ns)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NsToMs {
    signature: Signature,
}

impl NsToMs {
    fn new() -> Self {
        NsToMs { signature: Signature::uniform(1, vec![DataType::Int64, DataType::Float64], Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for NsToMs {
    fn name(&self) -> &str {
        "ns_to_ms"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Float64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        apply(&args, |a| {
            let ms: Float64Array = match a[0].data_type() {
                DataType::Int64 => a[0].as_primitive::<Int64Type>().unary(|ns| ns as f64 / 1e6),
                DataType::Float64 => a[0].as_primitive::<Float64Type>().unary(|ns| ns / 1e6),
                DataType::Null => Float64Array::new_null(a[0].len()),
                other => return exec_err!("ns_to_ms: {other} is not a number of nanoseconds"),
            };
            Ok(Arc::new(ms))
        })
    }
}

/// `attr(map, key...)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Attr {
    signature: Signature,
}

impl Attr {
    fn new() -> Self {
        Attr { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

/// The keys `attr` tries for `key`: the semantic-convention names of the same attribute, the
/// current one first (the span schema's typed columns list them), or `key` alone.
pub fn key_aliases(key: &str) -> Vec<String> {
    match HOT_COLUMNS.iter().find(|c| c.keys.contains(&key)) {
        Some(c) => c.keys.iter().map(|k| k.to_string()).collect(),
        None => vec![key.to_string()],
    }
}

impl ScalarUDFImpl for Attr {
    fn name(&self) -> &str {
        "attr"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let usage = "attr(attributes, key [, key...]): a map column (attributes, resource_attributes, \
                     scope_attributes) and one or more text keys";
        match arg_types {
            [DataType::Map(..), keys @ ..] if !keys.is_empty() && keys.iter().all(is_text) => {
                Ok([arg_types[0].clone()].into_iter().chain(keys.iter().map(|_| DataType::Utf8)).collect())
            }
            _ => plan_err!("{usage}, got {arg_types:?}"),
        }
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let mut keys = Vec::new();
        for a in &args.args[1..] {
            match a {
                ColumnarValue::Scalar(v) => match literal_text(v) {
                    Some(Some(k)) => keys.push(k.to_string()),
                    Some(None) => {}
                    None => return exec_err!("attr: a key must be text"),
                },
                ColumnarValue::Array(_) => return exec_err!("attr: the keys must be literal text"),
            }
        }
        if keys.len() == 1 {
            keys = key_aliases(&keys[0]);
        }
        let map_arg = &args.args[..1];
        apply(&ScalarFunctionArgs { args: map_arg.to_vec(), ..args }, |a| Ok(Arc::new(lookup(a[0].as_map(), &keys)?)))
    }
}

/// For each row of `map`, the value of the first of `keys` it holds.
fn lookup(map: &MapArray, keys: &[String]) -> DfResult<StringArray> {
    let entry_keys = arrow::compute::cast(map.keys(), &DataType::Utf8)?;
    let entry_values = arrow::compute::cast(map.values(), &DataType::Utf8)?;
    let (entry_keys, entry_values) = (entry_keys.as_string::<i32>(), entry_values.as_string::<i32>());
    let offsets = map.value_offsets();
    let mut out = StringBuilder::with_capacity(map.len(), map.len() * 8);
    for row in 0..map.len() {
        if map.is_null(row) {
            out.append_null();
            continue;
        }
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        let found = keys
            .iter()
            .find_map(|k| (start..end).find(|&i| entry_keys.is_valid(i) && entry_keys.value(i) == k.as_str()));
        match found {
            Some(i) if entry_values.is_valid(i) => out.append_value(entry_values.value(i)),
            _ => out.append_null(),
        }
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "cluster")]
    #[test]
    fn cluster_sessions_keep_the_builtins() {
        let state = all().session_state(datafusion::prelude::SessionConfig::new(), None).unwrap();
        for name in ["id_to_hex", "id_from_hex", "ns_to_ms", "attr", "abs"] {
            assert!(state.scalar_functions().contains_key(name), "{name}");
        }
        for name in ["latency_percentiles", "derive_signals", "count", "percentile_cont"] {
            assert!(state.aggregate_functions().contains_key(name), "{name}");
        }
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0x5b, 0x8e, 0x00, 0xff]), "5b8e00ff");
        assert_eq!(unhex("5B8e00Ff"), Some(vec![0x5b, 0x8e, 0x00, 0xff]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn aliases_put_the_current_key_first() {
        assert_eq!(key_aliases("http.status_code"), ["http.response.status_code", "http.status_code"]);
        assert_eq!(key_aliases("db.system"), ["db.system.name", "db.system"]);
        assert_eq!(key_aliases("app.product.id"), ["app.product.id"]);
    }

    #[test]
    fn every_function_is_documented_and_registered() {
        let ctx = SessionContext::new();
        register(&ctx);
        crate::queries::register_functions(&ctx, false);
        // Registered by sql sessions over raw input or a store, with their derivation options.
        ctx.register_udaf(crate::signals::function::derive_signals(&Default::default()));
        let state = ctx.state();
        for f in FUNCTIONS {
            assert!(
                state.scalar_functions().contains_key(f.name) || state.aggregate_functions().contains_key(f.name),
                "{} is documented but not registered",
                f.name
            );
            assert!(f.signature.starts_with(&format!("{}(", f.name)));
        }
    }
}
