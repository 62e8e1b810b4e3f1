//! The attribute maps of spans read from a span store ([`crate::store::read`]), whose keys and
//! values come as dictionaries, put in the form decoding for `metrics` gives: `attributes` cut
//! to the keys the rules read, with keys as indexes into those keys, and `resource_attributes` as
//! a dictionary of the batch's distinct resources, each cut the same way. Found by comparing
//! dictionary indexes, so no key or value is copied but those kept.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Int16Array, Int32Array, MapArray, RecordBatch, StructArray, UInt32Array,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, Int16Type, Int32Type, Schema};

use super::{RecordKinds, internal, rule_keys};
use crate::error::Result;
use crate::model::builder::AttributeKeys;
use crate::model::schema::{self as span};

/// A text column as `Dictionary(Int32, Utf8)`: as it is when it is one.
fn text_dictionary(array: &ArrayRef) -> Result<DictionaryArray<Int32Type>> {
    let ty = span::dict_utf8();
    let array = if array.data_type() == &ty { Arc::clone(array) } else { cast(array, &ty)? };
    Ok(array.as_dictionary::<Int32Type>().clone())
}

/// A map column's entries: each key's and value's index into its dictionary (`None`: null).
struct Entries {
    /// Rows without a map.
    nulls: Option<NullBuffer>,
    offsets: Vec<usize>,
    keys: DictionaryArray<Int32Type>,
    values: DictionaryArray<Int32Type>,
}

impl Entries {
    fn of(column: &ArrayRef, name: &str) -> Result<Self> {
        let map: &MapArray = column.as_map_opt().ok_or_else(|| internal(format!("{name} is not a map")))?;
        Ok(Entries {
            nulls: map.nulls().cloned(),
            offsets: map.value_offsets().iter().map(|&o| o as usize).collect(),
            keys: text_dictionary(map.keys())?,
            values: text_dictionary(map.values())?,
        })
    }

    fn rows(&self) -> usize {
        self.offsets.len() - 1
    }

    fn is_null(&self, i: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n.is_null(i))
    }

    fn value(&self, j: usize) -> Option<u32> {
        self.values.keys().is_valid(j).then(|| self.values.keys().value(j) as u32)
    }

    /// Per key in the key dictionary, its index among `kept`, `None` when it is not kept.
    fn kept_index(&self, kept: &AttributeKeys) -> Result<Vec<Option<i16>>> {
        let names =
            self.keys.values().as_string_opt::<i32>().ok_or_else(|| internal("map keys are not text".into()))?;
        Ok(names.iter().map(|n| n.and_then(|n| kept.index(n))).collect())
    }

    /// The entries of row `i` whose key is kept, as `(entry, kept index)`.
    fn kept<'a>(&'a self, i: usize, index: &'a [Option<i16>]) -> impl Iterator<Item = (usize, i16)> + 'a {
        let keys = self.keys.keys();
        (self.offsets[i]..self.offsets[i + 1])
            .filter(move |&j| keys.is_valid(j))
            .filter_map(move |j| index.get(keys.value(j) as usize).copied().flatten().map(|k| (j, k)))
    }

    /// The values of `entries` as text (null where the value is null).
    fn take_values(&self, entries: Vec<Option<u32>>) -> Result<ArrayRef> {
        Ok(take(self.values.values(), &UInt32Array::from(entries), None)?)
    }
}

/// `attributes` cut to `kept` keys, as [`span::keyed_attributes_type`].
fn keyed_attributes(map: &Entries, kept: &AttributeKeys) -> Result<ArrayRef> {
    let index = map.kept_index(kept)?;
    let mut offsets = Vec::with_capacity(map.rows() + 1);
    offsets.push(0i32);
    let (mut keys, mut values) = (Vec::new(), Vec::new());
    for i in 0..map.rows() {
        for (j, k) in map.kept(i, &index) {
            keys.push(k);
            values.push(map.value(j));
        }
        offsets.push(i32::try_from(keys.len()).map_err(|_| internal("over 2^31 attributes in a batch".into()))?);
    }
    let keys = DictionaryArray::<Int16Type>::try_new(Int16Array::from(keys), Arc::clone(kept.names()))?;
    let entries =
        StructArray::try_new(span::keyed_entries_fields(), vec![Arc::new(keys), map.take_values(values)?], None)?;
    let offsets = OffsetBuffer::new(offsets.into());
    Ok(Arc::new(MapArray::try_new(span::keyed_entries_field(), offsets, entries, map.nulls.clone(), false)?))
}

/// `resource_attributes` as [`span::shared_resource_attributes_type`]: rows whose maps hold the
/// same entries in the same order (by dictionary index) and whose `service` index is the same
/// share one map of the kept keys. (A dictionary holding a text twice may leave two maps for
/// one resource, which read the same.)
fn shared_resources(
    entries: &Entries,
    service: Option<&DictionaryArray<Int32Type>>,
    kept: &AttributeKeys,
) -> Result<ArrayRef> {
    let index = entries.kept_index(kept)?;
    let service_of = |i: usize| service.and_then(|s| s.keys().is_valid(i).then(|| s.keys().value(i) as u32));
    let signature = |i: usize, out: &mut Vec<u32>| {
        out.clear();
        out.push(service_of(i).unwrap_or(u32::MAX));
        for j in entries.offsets[i]..entries.offsets[i + 1] {
            let key = entries.keys.keys();
            out.push(if key.is_valid(j) { key.value(j) as u32 } else { u32::MAX });
            out.push(entries.value(j).unwrap_or(u32::MAX));
        }
    };
    let (mut known, mut rows, mut firsts) =
        (HashMap::<Vec<u32>, i32>::new(), Vec::with_capacity(entries.rows()), Vec::new());
    let (mut previous, mut current) = (Vec::new(), Vec::new());
    for i in 0..entries.rows() {
        if entries.is_null(i) {
            rows.push(None);
            continue;
        }
        signature(i, &mut current);
        // Rows of one resource mostly come together: compare with the previous row first.
        let resource = match rows.last() {
            Some(&Some(last)) if current == previous => last,
            _ => match known.get(&current) {
                Some(&resource) => resource,
                None => {
                    let resource = i32::try_from(firsts.len()).map_err(|_| internal("over 2^31 resources".into()))?;
                    known.insert(current.clone(), resource);
                    firsts.push(i);
                    resource
                }
            },
        };
        rows.push(Some(resource));
        std::mem::swap(&mut previous, &mut current);
    }
    let mut offsets = Vec::with_capacity(firsts.len() + 1);
    offsets.push(0i32);
    let (mut keys, mut values) = (Vec::new(), Vec::new());
    for &i in &firsts {
        for (j, _) in entries.kept(i, &index) {
            keys.push(Some(entries.keys.keys().value(j) as u32));
            values.push(entries.value(j));
        }
        offsets.push(i32::try_from(keys.len()).map_err(|_| internal("over 2^31 attributes in a batch".into()))?);
    }
    let keys = take(entries.keys.values(), &UInt32Array::from(keys), None)?;
    let DataType::Struct(fields) = span::attributes_entries_field().data_type().clone() else {
        return Err(internal("attribute entries are not a struct".into()));
    };
    let maps = StructArray::try_new(fields, vec![keys, entries.take_values(values)?], None)?;
    let maps =
        MapArray::try_new(span::attributes_entries_field(), OffsetBuffer::new(offsets.into()), maps, None, false)?;
    Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(Int32Array::from(rows), Arc::new(maps))?))
}

/// A batch of span columns whose maps hold every attribute (a store's, read with their keys and
/// values as `Dictionary(Int32, Utf8)`, or text maps) with `attributes` and
/// `resource_attributes` as decoding for the derivation of `kinds` gives them: the keys the rules
/// read ([`rule_keys`]), attribute keys as indexes into them, resources shared. Rows, their order
/// and every other column stay as they are.
pub fn compact_maps(batch: &RecordBatch, kinds: RecordKinds) -> Result<RecordBatch> {
    let kept = rule_keys(kinds);
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns = batch.columns().to_vec();
    if let Ok(at) = schema.index_of(span::ATTRIBUTES) {
        columns[at] = keyed_attributes(&Entries::of(&columns[at], span::ATTRIBUTES)?, &kept)?;
        fields[at] = fields[at].clone().with_data_type(span::keyed_attributes_type());
    }
    if let Ok(at) = schema.index_of(span::RESOURCE_ATTRIBUTES) {
        let service = match batch.column_by_name(span::SERVICE_NAME) {
            Some(s) => Some(text_dictionary(s)?),
            None => None,
        };
        columns[at] =
            shared_resources(&Entries::of(&columns[at], span::RESOURCE_ATTRIBUTES)?, service.as_ref(), &kept)?;
        fields[at] = fields[at].clone().with_data_type(span::shared_resource_attributes_type());
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())), columns)?)
}

/// `batch` with the keys and values of its `attributes` and `resource_attributes` as
/// `Dictionary(Int32, Utf8)`, as [`crate::store::read`] reads them.
#[cfg(test)]
pub(crate) fn dictionary_maps(batch: &RecordBatch) -> RecordBatch {
    let schema = crate::store::read::dictionary_maps(&batch.schema());
    let columns = batch.columns().iter().zip(schema.fields()).map(|(c, f)| cast(c, f.data_type()).unwrap()).collect();
    RecordBatch::try_new(Arc::new(schema), columns).unwrap()
}

#[cfg(test)]
mod tests {
    use arrow::array::{MapBuilder, StringArray, StringBuilder};
    use arrow::util::display::array_value_to_string;

    use super::*;

    type Row = Option<&'static [(&'static str, Option<&'static str>)]>;

    fn map(rows: &[Row]) -> ArrayRef {
        let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        for row in rows {
            match row {
                Some(entries) => {
                    for (k, v) in *entries {
                        b.keys().append_value(k);
                        b.values().append_option(*v);
                    }
                    b.append(true).unwrap();
                }
                None => b.append(false).unwrap(),
            }
        }
        Arc::new(b.finish())
    }

    /// A batch of `service_name`, `attributes` and `resource_attributes`, its maps read as a
    /// store's are.
    fn batch(services: &[Option<&str>], attributes: &[Row], resources: &[Row]) -> RecordBatch {
        let service: ArrayRef = Arc::new(StringArray::from(services.to_vec()));
        let service = cast(&service, &span::dict_utf8()).unwrap();
        let (attributes, resources) = (map(attributes), map(resources));
        let schema = Schema::new(vec![
            Field::new(span::SERVICE_NAME, service.data_type().clone(), true),
            Field::new(span::ATTRIBUTES, attributes.data_type().clone(), true),
            Field::new(span::RESOURCE_ATTRIBUTES, resources.data_type().clone(), true),
        ]);
        dictionary_maps(&RecordBatch::try_new(Arc::new(schema), vec![service, attributes, resources]).unwrap())
    }

    /// Each row's attributes as `{key: value, ...}` and its resource's dictionary key and map.
    fn shown(batch: &RecordBatch) -> (Vec<String>, Vec<Option<i32>>, Vec<String>) {
        let attributes = batch.column_by_name(span::ATTRIBUTES).unwrap();
        let resources = batch.column_by_name(span::RESOURCE_ATTRIBUTES).unwrap().as_dictionary::<Int32Type>();
        let show = |a: &ArrayRef, i| array_value_to_string(a, i).unwrap();
        (
            (0..batch.num_rows()).map(|i| show(attributes, i)).collect(),
            resources.keys().iter().collect(),
            (0..resources.values().len()).map(|i| show(resources.values(), i)).collect(),
        )
    }

    #[test]
    fn attributes_keep_the_rule_keys_in_order_as_indexes() {
        // (attributes of a row, what is kept for all records, for service records alone)
        let cases: [(Row, &str, &str); 6] = [
            (
                Some(&[("http.route", Some("/a")), ("url.path", Some("/a/1")), ("thread.name", Some("t"))]),
                "{url.path: /a/1}",
                "{url.path: /a/1}",
            ),
            (Some(&[("thread.name", Some("t"))]), "{}", "{}"),
            (Some(&[]), "{}", "{}"),
            (
                Some(&[("http.request.method", Some("GET")), ("server.port", Some("80"))]),
                "{http.request.method: GET, server.port: 80}",
                "{http.request.method: GET}",
            ),
            // A null value stays null; a key twice stays twice, in order.
            (
                Some(&[("url.path", None), ("url.path", Some("/b"))]),
                "{url.path: , url.path: /b}",
                "{url.path: , url.path: /b}",
            ),
            (None, "", ""),
        ];
        let rows: Vec<Row> = cases.iter().map(|c| c.0).collect();
        let resource: Row = Some(&[("service.name", Some("s"))]);
        let input = batch(&vec![Some("s"); rows.len()], &rows, &vec![resource; rows.len()]);
        for (kinds, expected) in [
            (RecordKinds::ALL, cases.iter().map(|c| c.1).collect::<Vec<_>>()),
            (RecordKinds { service: true, dependency: false }, cases.iter().map(|c| c.2).collect()),
        ] {
            let out = compact_maps(&input, kinds).unwrap();
            let attributes = out.column_by_name(span::ATTRIBUTES).unwrap();
            assert_eq!(attributes.data_type(), &span::keyed_attributes_type());
            assert_eq!(shown(&out).0, expected, "{kinds:?}");
            assert!(attributes.is_null(5) && !attributes.is_null(2));
            // The plain text maps give the same.
            let mut text = input.clone();
            for name in [span::ATTRIBUTES, span::RESOURCE_ATTRIBUTES] {
                let at = text.schema().index_of(name).unwrap();
                let resources = [resource; 6];
                let plain = map(if name == span::ATTRIBUTES { &rows } else { &resources });
                let mut columns = text.columns().to_vec();
                columns[at] = plain;
                let mut fields: Vec<Field> = text.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
                fields[at] = fields[at].clone().with_data_type(columns[at].data_type().clone());
                text = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
            }
            assert_eq!(compact_maps(&text, kinds).unwrap(), out);
        }
    }

    #[test]
    fn rows_of_one_resource_and_service_share_one_map_of_the_rule_keys() {
        let a: Row = Some(&[("service.name", Some("a")), ("host.arch", Some("x")), ("k8s.cluster.name", Some("c"))]);
        let a_again: Row = a;
        let b: Row = Some(&[("service.name", Some("a")), ("host.arch", Some("y")), ("k8s.cluster.name", Some("c"))]);
        let reordered: Row =
            Some(&[("k8s.cluster.name", Some("c")), ("service.name", Some("a")), ("host.arch", Some("x"))]);
        let empty: Row = Some(&[]);
        // (service, resource, expected dictionary key)
        let cases: [(Option<&str>, Row, Option<i32>); 8] = [
            (Some("a"), a, Some(0)),
            (Some("a"), a_again, Some(0)),
            // Another value of a key the rules do not read: another map, which reads the same.
            (Some("a"), b, Some(1)),
            // The same resource again after another.
            (Some("a"), a, Some(0)),
            // The same entries under another service name: not the same resource.
            (Some("z"), a, Some(2)),
            (Some("a"), reordered, Some(3)),
            (None, empty, Some(4)),
            (Some("a"), None, None),
        ];
        let services: Vec<_> = cases.iter().map(|c| c.0).collect();
        let resources: Vec<Row> = cases.iter().map(|c| c.1).collect();
        let out = compact_maps(&batch(&services, &[empty; 8], &resources), RecordKinds::ALL).unwrap();
        assert_eq!(
            out.column_by_name(span::RESOURCE_ATTRIBUTES).unwrap().data_type(),
            &span::shared_resource_attributes_type()
        );
        let (_, keys, maps) = shown(&out);
        assert_eq!(keys, cases.iter().map(|c| c.2).collect::<Vec<_>>());
        let cut = "{k8s.cluster.name: c}";
        assert_eq!(maps, [cut, cut, cut, cut, "{}"]);
    }
}
