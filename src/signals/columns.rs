//! The span columns the derivation reads, as plain arrays, with each resource's facts and the
//! attribute maps looked up by rule key.

use arrow::array::{Array, ArrayRef, AsArray, FixedSizeBinaryArray, MapArray, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int32Type};

use crate::derive::environment::{EnvironmentResource, Platform, environment};
use crate::derive::{ATTRIBUTE_KEYS, Key, key, present};
use crate::error::Result;
use crate::model::schema::{self as span};

use super::*;

/// The span columns the derivation reads, as plain arrays.
pub(crate) struct Columns {
    pub(crate) trace_id: FixedSizeBinaryArray,
    pub(crate) span_id: FixedSizeBinaryArray,
    pub(crate) parent_span_id: FixedSizeBinaryArray,
    pub(crate) flags: arrow::array::UInt32Array,
    pub(crate) trace_state: Text,
    pub(crate) name: Text,
    pub(crate) kind: Text,
    pub(crate) end_time: arrow::array::Int64Array,
    pub(crate) duration_ns: arrow::array::Int64Array,
    pub(crate) status_code: Text,
    pub(crate) service_name: Text,
    pub(crate) scope_name: Text,
    pub(crate) attributes: AttrMap,
    /// Per row, the index into `resources` of its resource: rows of one resource share one
    /// ([`Columns::read_resources`]).
    pub(crate) resource_of_row: Vec<u32>,
    pub(crate) resources: Vec<ResourceFacts>,
}

/// What the derivation reads from a resource, read once per run of rows with that resource.
pub(crate) struct ResourceFacts {
    /// The Lambda function the resource runs as (§5.1.1 offline adaptation).
    pub(crate) lambda: Option<String>,
    /// §11 environment.
    pub(crate) environment: String,
    /// `service.instance.id` (§2.1 "same ResourceSpans").
    pub(crate) instance_id: Option<String>,
    /// `aws.local.service` (§3).
    pub(crate) aws_local_service: Option<String>,
    /// The adjusted count a `SampleRate` resource attribute gives its spans.
    pub(crate) sample_rate: Option<f64>,
}

impl ResourceFacts {
    pub(crate) fn read(resource: &Attrs<'_>, service_name: Option<&str>, opts: &SignalOptions) -> Self {
        let lambda = lambda_function(resource, service_name);
        ResourceFacts {
            environment: resource_environment(resource, lambda.is_some(), opts),
            lambda: lambda.map(str::to_string),
            instance_id: resource.get(key!("service.instance.id")).map(str::to_string),
            aws_local_service: resource.get(key!("aws.local.service")).map(str::to_string),
            sample_rate: sample_rate_attribute(resource),
        }
    }
}

/// The adjusted count a `SampleRate`, else `sampleRate`, attribute gives.
pub(crate) fn sample_rate_attribute(attrs: &Attrs<'_>) -> Option<f64> {
    let rate = |k| attrs.get(k).and_then(crate::derive::sampling::sample_rate);
    rate(key!("SampleRate")).or_else(|| rate(key!("sampleRate")))
}

/// An attribute map column (`Map<Utf8, Utf8>`, or a keyed map whose keys index a dictionary of
/// key names) with its keys and values as arrays.
pub(crate) struct AttrMap {
    pub(crate) offsets: Vec<usize>,
    pub(crate) keys: MapKeys,
    /// The [`Key`] of each entry, `u8::MAX` for keys the rules do not read.
    pub(crate) ids: Vec<u8>,
    pub(crate) values: StringArray,
    /// A bit per [`Key`] the derivation kept ([`key_mask`]): reading another is a bug, as the
    /// maps may have been cut to these.
    pub(crate) kept: u128,
}

/// An entry of an [`AttrMap`] whose [`Key`] is not looked up yet ([`AttrMap::resolve_row`]).
pub(crate) const UNRESOLVED: u8 = u8::MAX - 1;

/// The keys of an [`AttrMap`]'s entries: their text, or indexes into a dictionary of key names
/// with the [`Key`] of each name (looked up once per name instead of once per entry).
pub(crate) enum MapKeys {
    Text(StringArray),
    Indexed { indexes: arrow::array::Int16Array, ids: Vec<u8> },
}

/// The [`Key`] id of a key's text, `u8::MAX` for keys the rules do not read.
pub(crate) fn key_id(key: Option<&str>) -> u8 {
    key.and_then(Key::find).map_or(u8::MAX, |k| k.0)
}

impl MapKeys {
    pub(crate) fn of(keys: &ArrayRef) -> Result<Self> {
        match keys.as_dictionary_opt::<arrow::datatypes::Int16Type>() {
            Some(dictionary) => {
                let names = utf8(dictionary.values())?;
                Ok(MapKeys::Indexed { indexes: dictionary.keys().clone(), ids: names.iter().map(key_id).collect() })
            }
            None => Ok(MapKeys::Text(utf8(keys)?)),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            MapKeys::Text(keys) => keys.len(),
            MapKeys::Indexed { indexes, .. } => indexes.len(),
        }
    }

    /// The [`Key`] id of entry `j`.
    pub(crate) fn id(&self, j: usize) -> u8 {
        match self {
            MapKeys::Text(keys) => key_id(keys.is_valid(j).then(|| keys.value(j))),
            MapKeys::Indexed { indexes, ids } if indexes.is_valid(j) => {
                ids.get(indexes.value(j) as usize).copied().unwrap_or(u8::MAX)
            }
            MapKeys::Indexed { .. } => u8::MAX,
        }
    }

    /// Entries `x` and `y` have the same key.
    pub(crate) fn same(&self, x: usize, y: usize) -> bool {
        match self {
            MapKeys::Text(keys) => keys.value(x) == keys.value(y),
            MapKeys::Indexed { indexes, .. } => indexes.value(x) == indexes.value(y),
        }
    }
}

impl AttrMap {
    pub(crate) fn new(array: &ArrayRef, kept: u128) -> Result<Self> {
        let mut map = Self::unresolved(array, kept)?;
        map.resolve(0..map.keys.len());
        Ok(map)
    }

    /// The map with no entry's [`Key`] looked up: for a column of which only some rows are read,
    /// each after [`resolve_row`](Self::resolve_row).
    pub(crate) fn unresolved(array: &ArrayRef, kept: u128) -> Result<Self> {
        let map: &MapArray = array.as_map_opt().ok_or_else(|| internal("attributes are not a map".into()))?;
        let offsets = map.value_offsets().iter().map(|o| *o as usize).collect();
        let keys = MapKeys::of(map.keys())?;
        let ids = vec![UNRESOLVED; keys.len()];
        Ok(AttrMap { offsets, keys, ids, values: utf8(map.values())?, kept })
    }

    /// Look up the [`Key`]s of row `i`'s entries.
    pub(crate) fn resolve_row(&mut self, i: usize) {
        self.resolve(self.offsets[i]..self.offsets[i + 1]);
    }

    /// Look up the [`Key`]s of these entries.
    pub(crate) fn resolve(&mut self, entries: std::ops::Range<usize>) {
        for j in entries {
            self.ids[j] = self.keys.id(j);
        }
    }

    pub(crate) fn row(&self, i: usize) -> Attrs<'_> {
        Attrs { map: self, range: self.offsets[i]..self.offsets[i + 1] }
    }

    /// Rows `a` and `b` hold the same entries in the same order.
    pub(crate) fn same_rows(&self, a: usize, b: usize) -> bool {
        let (ra, rb) = (self.offsets[a]..self.offsets[a + 1], self.offsets[b]..self.offsets[b + 1]);
        ra.len() == rb.len()
            && ra.zip(rb).all(|(x, y)| {
                self.keys.same(x, y)
                    && self.values.is_valid(x) == self.values.is_valid(y)
                    && self.values.value(x) == self.values.value(y)
            })
    }
}

/// The attributes of one span or resource.
#[derive(Clone)]
pub(crate) struct Attrs<'a> {
    pub(crate) map: &'a AttrMap,
    pub(crate) range: std::ops::Range<usize>,
}

impl<'a> Attrs<'a> {
    pub(crate) fn get(&self, key: Key) -> Option<&'a str> {
        let m = self.map;
        debug_assert!(!m.ids[self.range.clone()].contains(&UNRESOLVED), "a row is read before its keys are looked up");
        debug_assert!(
            m.kept & (1u128 << key.0) != 0,
            "the rules read {}, which this derivation does not keep",
            ATTRIBUTE_KEYS[key.0 as usize]
        );
        let j = self.range.start + m.ids[self.range.clone()].iter().position(|id| *id == key.0)?;
        m.values.is_valid(j).then(|| m.values.value(j))
    }

    /// A present (non-empty) value.
    pub(crate) fn text(&self, key: Key) -> Option<&'a str> {
        present(self.get(key))
    }

    /// An integer value; attributes are stored as text, so `"404"` and `404` both parse.
    pub(crate) fn int(&self, key: Key) -> Option<i64> {
        let text = self.text(key)?;
        text.parse::<i64>().ok().or_else(|| {
            let v = text.trim();
            v.parse::<i64>().ok().or_else(|| v.parse::<f64>().ok().filter(|f| f.fract() == 0.0).map(|f| f as i64))
        })
    }
}

/// A string column read as it is stored: through its dictionary when it has one, so that no
/// text is copied per row.
pub(crate) struct Text {
    pub(crate) keys: Option<arrow::array::Int32Array>,
    pub(crate) values: StringArray,
}

impl Text {
    pub(crate) fn new(array: &ArrayRef) -> Result<Self> {
        if let Some(dict) = array.as_dictionary_opt::<Int32Type>()
            && dict.values().data_type() == &DataType::Utf8
        {
            return Ok(Text { keys: Some(dict.keys().clone()), values: dict.values().as_string::<i32>().clone() });
        }
        Ok(Text { keys: None, values: utf8(array)? })
    }

    /// The value of row `i`, `None` when it is null.
    pub(crate) fn opt(&self, i: usize) -> Option<&str> {
        let j = match &self.keys {
            Some(keys) => keys.is_valid(i).then(|| keys.value(i) as usize)?,
            None => i,
        };
        self.values.is_valid(j).then(|| self.values.value(j))
    }

    /// The value of row `i` of a column without nulls (`""` for a null).
    pub(crate) fn value(&self, i: usize) -> &str {
        self.opt(i).unwrap_or_default()
    }
}

pub(crate) fn utf8(array: &ArrayRef) -> Result<StringArray> {
    let array = if array.data_type() == &DataType::Utf8 { array.clone() } else { cast(array, &DataType::Utf8)? };
    Ok(array.as_string::<i32>().clone())
}

impl Columns {
    pub(crate) fn new(batch: &RecordBatch, opts: &SignalOptions) -> Result<Self> {
        let column = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| internal(format!("the span table has no column {name}")))
        };
        let fsb = |name: &str| -> Result<FixedSizeBinaryArray> {
            column(name)?
                .as_fixed_size_binary_opt()
                .cloned()
                .ok_or_else(|| internal(format!("{name} is not fixed-size binary")))
        };
        let int64 = |name: &str| -> Result<arrow::array::Int64Array> {
            Ok(cast(column(name)?, &DataType::Int64)?.as_primitive::<arrow::datatypes::Int64Type>().clone())
        };
        let mut columns = Columns {
            trace_id: fsb(span::TRACE_ID)?,
            span_id: fsb(span::SPAN_ID)?,
            parent_span_id: fsb(span::PARENT_SPAN_ID)?,
            flags: cast(column(span::FLAGS)?, &DataType::UInt32)?.as_primitive().clone(),
            trace_state: Text::new(column(span::TRACE_STATE)?)?,
            name: Text::new(column(span::NAME)?)?,
            kind: Text::new(column(span::KIND)?)?,
            end_time: int64(span::END_TIME)?,
            duration_ns: int64(span::DURATION_NS)?,
            status_code: Text::new(column(span::STATUS_CODE)?)?,
            service_name: Text::new(column(span::SERVICE_NAME)?)?,
            scope_name: Text::new(column(span::SCOPE_NAME)?)?,
            attributes: AttrMap::new(column(span::ATTRIBUTES)?, key_mask(opts.records))?,
            resource_of_row: Vec::with_capacity(batch.num_rows()),
            resources: Vec::new(),
        };
        columns.read_resources(column(span::RESOURCE_ATTRIBUTES)?, batch.num_rows(), opts)?;
        Ok(columns)
    }

    /// Fill `resources` and `resource_of_row` from `resource_attributes`, reading each resource
    /// once: a map per row (the span table's form) is read where it differs from the previous
    /// row's, a dictionary of the batch's resources (decoded with shared resources) once per
    /// resource. The facts of a resource also depend on its service name, which comes from the
    /// same resource, so rows with the same dictionary key have the same name.
    pub(crate) fn read_resources(&mut self, column: &ArrayRef, rows: usize, opts: &SignalOptions) -> Result<()> {
        let kept = key_mask(opts.records);
        if let Some(dictionary) = column.as_dictionary_opt::<Int32Type>() {
            let mut maps = AttrMap::unresolved(dictionary.values(), kept)?;
            let mut facts_of: Vec<Option<u32>> = vec![None; dictionary.values().len()];
            for (i, key) in dictionary.keys().iter().enumerate() {
                let key = key.ok_or_else(|| internal("a span without a resource".into()))? as usize;
                let slot = facts_of.get_mut(key).ok_or_else(|| internal("a resource key out of range".into()))?;
                let index = match *slot {
                    Some(index) => index,
                    None => {
                        maps.resolve_row(key);
                        self.resources.push(ResourceFacts::read(&maps.row(key), self.service_name.opt(i), opts));
                        let index = (self.resources.len() - 1) as u32;
                        *slot = Some(index);
                        index
                    }
                };
                self.resource_of_row.push(index);
            }
            return Ok(());
        }
        // Read only where the resource changes.
        let mut maps = AttrMap::unresolved(column, kept)?;
        for i in 0..rows {
            let service_name = self.service_name.opt(i);
            let same_as_previous = i > 0 && service_name == self.service_name.opt(i - 1) && maps.same_rows(i, i - 1);
            if !same_as_previous {
                maps.resolve_row(i);
                self.resources.push(ResourceFacts::read(&maps.row(i), service_name, opts));
            }
            self.resource_of_row.push((self.resources.len() - 1) as u32);
        }
        Ok(())
    }

    pub(crate) fn resource(&self, i: usize) -> &ResourceFacts {
        &self.resources[self.resource_of_row[i] as usize]
    }

    pub(crate) fn id8(array: &FixedSizeBinaryArray, i: usize) -> Option<[u8; 8]> {
        array.is_valid(i).then(|| array.value(i).try_into().ok()).flatten()
    }
}

/// The Lambda function a resource runs as, if it is one (§5.1.1 offline adaptation).
pub(crate) fn lambda_function<'a>(resource: &Attrs<'a>, service_name: Option<&'a str>) -> Option<&'a str> {
    resource
        .text(key!("faas.name"))
        .or_else(|| (resource.get(key!("cloud.platform")) == Some("aws_lambda")).then_some(service_name?))
}

/// §11: the environment of a span's resource.
pub(crate) fn resource_environment(resource: &Attrs<'_>, lambda: bool, opts: &SignalOptions) -> String {
    let ecs_cluster = resource
        .text(key!("aws.ecs.cluster.arn"))
        .and_then(|arn| arn.rsplit('/').next())
        .or_else(|| resource.text(key!("aws.ecs.cluster.name")));
    let r = EnvironmentResource {
        deployment_environment: resource
            .text(key!("deployment.environment.name"))
            .or(resource.text(key!("deployment.environment"))),
        hosted_in: resource.text(key!("aws.hostedin.environment")),
        autoscaling_group: resource.text(key!("ec2.tag.aws:autoscaling:groupName")),
        ecs_cluster,
        k8s_cluster: resource.text(key!("k8s.cluster.name")).or(opts.cluster.as_deref()),
        k8s_namespace: resource.text(key!("k8s.namespace.name")),
        cloud_platform: resource.text(key!("cloud.platform")),
        cloud_provider: resource.text(key!("cloud.provider")),
    };
    environment(&r, if lambda { Platform::Lambda } else { opts.platform })
}
