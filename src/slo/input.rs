//! Reading `--slos` files: JSON or YAML, in Application Signals' shape or as OpenSLO v1 objects,
//! told apart by their content (a document with `apiVersion` is OpenSLO).

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

use super::definition::{SloDefinition, application_signals_values, parse_application_signals};
use super::openslo;

/// Read and validate the SLO definitions in `path`.
pub fn read_definitions(path: &Path) -> Result<Vec<SloDefinition>> {
    let text =
        std::fs::read_to_string(path).map_err(|source| Error::Input { path: path.display().to_string(), source })?;
    parse_definitions(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

/// Parse and validate SLO definitions: Application Signals JSON (one object or an array), the
/// same as YAML (one document per SLO, or a sequence), or OpenSLO v1 objects in YAML (one or
/// many documents, each one object or a sequence) or JSON (one object or an array).
pub fn parse_definitions(text: &str) -> std::result::Result<Vec<SloDefinition>, String> {
    let text = text.trim_start_matches('\u{feff}');
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| format!("not a valid SLO definition (line {}, column {}): {e}", e.line(), e.column()))?;
        let values = flatten(vec![value]);
        return if values.iter().any(openslo::is_openslo) {
            openslo::definitions(values)
        } else {
            parse_application_signals(text)
        };
    }
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| format!("neither JSON nor valid YAML: {e}"))?;
    let values = flatten(documents);
    if values.iter().any(openslo::is_openslo) {
        openslo::definitions(values)
    } else {
        application_signals_values(values)
    }
}

/// The objects of `documents`, a document that is a sequence giving its items.
fn flatten(documents: Vec<Value>) -> Vec<Value> {
    documents
        .into_iter()
        .flat_map(|d| match d {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => vec![other],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"Name": "avail", "RequestBasedSliConfig": {"RequestBasedSliMetricConfig": {
        "KeyAttributes": {"Type": "Service", "Name": "svc"}, "MetricType": "AVAILABILITY"}},
        "Goal": {"AttainmentGoal": 99.5}}"#;

    /// The same Application Signals SLO as JSON, as a JSON array, as YAML and as a YAML sequence.
    #[test]
    fn application_signals_json_and_yaml_agree() {
        let json = parse_definitions(JSON).unwrap();
        assert_eq!(parse_definitions(&format!("[{JSON}]")).unwrap(), json);
        let yaml = "Name: avail\nRequestBasedSliConfig:\n  RequestBasedSliMetricConfig:\n    KeyAttributes: {Type: \
                    Service, Name: svc}\n    MetricType: AVAILABILITY\nGoal:\n  AttainmentGoal: 99.5\n";
        assert_eq!(parse_definitions(yaml).unwrap(), json);
        let sequence = format!("- {}", yaml.replace('\n', "\n  "));
        assert_eq!(parse_definitions(&sequence).unwrap(), json);
        assert!(parse_definitions("Name: x\n  bad: [").unwrap_err().contains("YAML"));
        assert!(parse_definitions("Name: x\nFoo: 1\n").unwrap_err().contains("Foo"));
    }

    /// OpenSLO objects read the same from YAML documents and from a JSON array.
    #[test]
    fn openslo_yaml_and_json_agree() {
        let yaml = "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: avail}\nspec:\n  service: svc\n  indicator:\n    \
                    metadata: {name: a}\n    spec:\n      ratioMetric:\n        bad: {metricSource: {type: spanlens, \
                    spec: {measure: faults}}}\n        total: {metricSource: {type: spanlens, spec: {measure: \
                    requests}}}\n  timeWindow: [{duration: 1w, isRolling: true}]\n  budgetingMethod: Occurrences\n  \
                    objectives: [{targetPercent: 99.5}]\n";
        let from_yaml = parse_definitions(&format!("---\n{yaml}---\n")).unwrap();
        let value: Value = serde_saphyr::from_str(yaml).unwrap();
        let from_json = parse_definitions(&serde_json::to_string(&vec![value]).unwrap()).unwrap();
        assert_eq!(from_yaml, from_json);
        // The same SLO as Application Signals defines it (7 days rolling by default).
        assert_eq!(from_yaml, parse_definitions(JSON).unwrap());
    }
}
