//! §9: error, fault and latency of a metric record, and the records the agent drops.

/// Error (4xx) and fault (5xx, or span status ERROR without a 4xx/5xx code) of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub error: bool,
    pub fault: bool,
}

/// §9.1: classify by HTTP status code (`http.response.status_code`, else `http.status_code`;
/// Python and JS read only the old key: the caller picks) and span status.
pub fn classify(status_code: Option<i64>, status_is_error: bool) -> Outcome {
    match status_code {
        Some(400..=499) => Outcome { error: true, fault: false },
        Some(500..=599) => Outcome { error: false, fault: true },
        // Absent, below 400 or above 599: only the span status counts.
        _ => Outcome { error: false, fault: status_is_error },
    }
}

/// §9.2: latency in milliseconds, as a float.
pub fn latency_ms(duration_ns: i64) -> f64 {
    duration_ns as f64 / 1e6
}

/// §9.3: dependency records to the EC2 instance metadata service are not recorded.
pub fn is_imds(remote_service: &str) -> bool {
    remote_service == "169.254.169.254"
}

/// §9.3: the agent drops a datapoint whose dimension value is blank or has a character outside
/// printable ASCII (32–126).
pub fn valid_dimension(value: &str) -> bool {
    // One pass: within printable ASCII the only blank is the space.
    let mut non_blank = false;
    for b in value.bytes() {
        if !(32..=126).contains(&b) {
            return false;
        }
        non_blank |= b != b' ';
    }
    non_blank
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_9_1_error_and_fault_table() {
        // (status code, span status ERROR, error, fault)
        let cases = [
            (None, false, false, false),      // 9.1.1 no code, status unset
            (None, true, false, true),        // 9.1.1 no code, status ERROR → fault
            (Some(200), true, false, true),   // 9.1.1 code < 400 → status decides
            (Some(399), false, false, false), // 9.1.1
            (Some(600), true, false, true),   // 9.1.1 code > 599 → status decides
            (Some(400), false, true, false),  // 9.1.2
            (Some(404), true, true, false),   // 9.1.2 4xx is an error even with status ERROR
            (Some(429), false, true, false),  // 9.1 throttling counts only as an error
            (Some(499), false, true, false),  // 9.1.2
            (Some(500), false, false, true),  // 9.1.3
            (Some(503), true, false, true),   // 9.1.3
            (Some(599), false, false, true),  // 9.1.3
        ];
        for (code, status_error, error, fault) in cases {
            assert_eq!(classify(code, status_error), Outcome { error, fault }, "code {code:?}, ERROR {status_error}");
        }
    }

    #[test]
    fn rule_9_2_latency_in_ms() {
        assert_eq!(latency_ms(1_500_000), 1.5);
        assert_eq!(latency_ms(0), 0.0);
    }

    #[test]
    fn rule_9_3_dropped_records() {
        assert!(is_imds("169.254.169.254"));
        assert!(!is_imds("169.254.169.254:80"), "exact match only");
        let cases =
            [("GET /owners", true), ("", false), ("   ", false), ("café", false), ("tab\there", false), ("~ok!", true)];
        for (value, valid) in cases {
            assert_eq!(valid_dimension(value), valid, "{value:?}");
        }
    }
}
