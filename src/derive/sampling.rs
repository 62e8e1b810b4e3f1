//! Sampling-aware counts: how many requests one exported span stands for (its adjusted count,
//! 1/probability), read from the OpenTelemetry probability-sampling threshold in `tracestate`, the
//! superseded `p` value, or a `SampleRate` attribute, and made a whole number of requests so that
//! sums stay exact and reproducible.
//!
//! Sources, in the order they are tried (`service-graph-and-sampling.md` Part B):
//! 1. `th` in the `ot` entry of the span's `tracestate` (B1): 1 to 14 lowercase hex digits, the
//!    56-bit rejection threshold `T` with trailing zeros dropped; adjusted count
//!    `2^56 / (2^56 − T)`.
//! 2. `p` in the `ot` entry (B2, the superseded experimental spec): `p` in 0..=62 means
//!    probability `2^−p`, adjusted count `2^p`; 63 (adjusted count 0) and anything else is no
//!    count.
//! 3. `SampleRate`, else `sampleRate`, of the span's attributes, else of its resource's (B2,
//!    Honeycomb): a whole number N, one span standing for N; 0 is taken as 1.
//!
//! A span with none of these counts once ("counted"). Adjusted counts that are not whole (`th:e666`
//! is 9.99939) are rounded stochastically, as the Collector's `spanmetrics` connector does (B3):
//! up with probability equal to the fraction, from a hash of the span's ids, so that the rounded
//! counts estimate the same total without bias and the same input always gives the same counts.

/// Where a span's adjusted count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SamplingSource {
    /// `th` of the `ot` tracestate entry.
    Threshold,
    /// `p` of the `ot` tracestate entry (superseded).
    Power,
    /// A `SampleRate`/`sampleRate` span or resource attribute.
    SampleRate,
}

impl SamplingSource {
    /// The name `run_info` and the report give the source.
    pub fn name(self) -> &'static str {
        match self {
            SamplingSource::Threshold => "tracestate_th",
            SamplingSource::Power => "tracestate_p",
            SamplingSource::SampleRate => "sample_rate_attribute",
        }
    }
}

/// 2^56, the threshold scale (`MaxAdjustedCount`).
const MAX_ADJUSTED_COUNT: u64 = 1 << 56;

/// The rejection threshold of a `th` value: 1 to 14 lowercase hex digits, trailing zeros dropped.
pub fn threshold(th: &str) -> Option<u64> {
    let ok = (1..=14).contains(&th.len()) && th.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !ok {
        return None;
    }
    let digits = u64::from_str_radix(th, 16).ok()?;
    Some(digits << (4 * (14 - th.len())))
}

/// The adjusted count of a rejection threshold: `2^56 / (2^56 − T)`.
pub fn threshold_adjusted_count(t: u64) -> f64 {
    MAX_ADJUSTED_COUNT as f64 / (MAX_ADJUSTED_COUNT - t.min(MAX_ADJUSTED_COUNT - 1)) as f64
}

/// The value of `key` among the `;`-separated `key:value` members of an `ot` entry.
fn ot_member<'a>(ot: &'a str, key: &str) -> Option<&'a str> {
    ot.split(';').find_map(|member| member.strip_prefix(key)?.strip_prefix(':'))
}

/// The value of the `ot` entry of a W3C `tracestate` (comma-separated `key=value` list members,
/// optional whitespace around them).
pub fn ot_entry(trace_state: &str) -> Option<&str> {
    trace_state.split(',').find_map(|member| member.trim_matches([' ', '\t']).strip_prefix("ot="))
}

/// The adjusted count a span's `tracestate` gives, and from which member.
pub fn tracestate_adjusted_count(trace_state: &str) -> Option<(f64, SamplingSource)> {
    let ot = ot_entry(trace_state)?;
    if let Some(t) = ot_member(ot, "th").and_then(threshold) {
        return Some((threshold_adjusted_count(t), SamplingSource::Threshold));
    }
    let p: u32 = ot_member(ot, "p")?.parse().ok()?;
    (p <= 62).then(|| ((1u64 << p) as f64, SamplingSource::Power))
}

/// The count a `SampleRate` attribute value gives: a whole number, 0 taken as 1.
pub fn sample_rate(value: &str) -> Option<f64> {
    let n: i64 = value.trim().parse().ok()?;
    (n >= 0).then(|| n.max(1) as f64)
}

/// A span's adjusted count and its source: from its `tracestate`, else from the count its
/// `SampleRate` attributes give (span's, then resource's: [`sample_rate`] of each); `None` when
/// the span was not probability-sampled as far as the export says.
pub fn adjusted_count(
    trace_state: Option<&str>,
    sample_rate: impl FnOnce() -> Option<f64>,
) -> Option<(f64, SamplingSource)> {
    trace_state.and_then(tracestate_adjusted_count).or_else(|| Some((sample_rate()?, SamplingSource::SampleRate)))
}

/// `count` as a whole number of requests: its integer part, plus one with probability equal to
/// its fraction, decided by a hash of the span's ids (the same span always rounds the same way).
pub fn whole_count(count: f64, trace_id: &[u8], span_id: &[u8]) -> i64 {
    let floor = count.floor();
    let fraction = count - floor;
    let whole = floor as i64;
    if fraction == 0.0 {
        return whole;
    }
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in trace_id.chunks(8).chain(span_id.chunks(8)) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = mix(h ^ u64::from_le_bytes(word));
    }
    // The top 53 bits as a uniform number in [0, 1).
    let u = (h >> 11) as f64 / (1u64 << 53) as f64;
    whole + i64::from(u < fraction)
}

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked examples of `service-graph-and-sampling.md` B1.
    #[test]
    fn thresholds_give_the_specs_adjusted_counts() {
        let cases: &[(&str, u64, f64)] = &[
            ("0", 0, 1.0),
            ("8", 0x80000000000000, 2.0),
            ("c", 0xc0000000000000, 4.0),
            ("e", 0xe0000000000000, 8.0),
            ("e666", 0xe6660000000000, 9.99938968568813),
            ("e668", 0xe6680000000000, 10.002442002442002),
            ("ffffffffffffff", 0xffffffffffffff, (1u64 << 56) as f64),
        ];
        for &(th, t, count) in cases {
            assert_eq!(threshold(th), Some(t), "th:{th}");
            let got = threshold_adjusted_count(t);
            assert!((got - count).abs() < 1e-9 * count, "th:{th}: {got} != {count}");
        }
    }

    #[test]
    fn malformed_thresholds_are_no_count() {
        for th in ["", "C", "0x8", "g", "-1", "fffffffffffffff", " 8", "8 "] {
            assert_eq!(threshold(th), None, "th:{th:?}");
        }
    }

    #[test]
    fn tracestate_members_are_found_wherever_they_are() {
        let cases: &[(&str, Option<(f64, SamplingSource)>)] = &[
            ("ot=th:c", Some((4.0, SamplingSource::Threshold))),
            ("vendor=x,ot=rv:abcdef01234567;th:8", Some((2.0, SamplingSource::Threshold))),
            ("vendor=x , ot=th:e;x:1", Some((8.0, SamplingSource::Threshold))),
            ("ot=th:8;p:4", Some((2.0, SamplingSource::Threshold))),
            // The superseded p: 2^p; 63 means "not sampled" and gives no count.
            ("ot=p:8;r:62", Some((256.0, SamplingSource::Power))),
            ("ot=p:0", Some((1.0, SamplingSource::Power))),
            ("ot=p:63", None),
            ("ot=p:x", None),
            // A malformed th is no count; a p beside it still counts.
            ("ot=th:C", None),
            ("ot=th:C;p:2", Some((4.0, SamplingSource::Power))),
            ("vendor=th:8", None),
            ("xot=th:8", None),
            ("ot=thx:8", None),
            ("", None),
        ];
        for &(ts, want) in cases {
            assert_eq!(tracestate_adjusted_count(ts), want, "{ts:?}");
        }
    }

    #[test]
    fn sample_rate_attributes_come_after_tracestate_span_before_resource() {
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>, Option<(f64, SamplingSource)>);
        let cases: &[Case] = &[
            (None, None, None, None),
            (Some("ot=th:c"), Some("10"), Some("20"), Some((4.0, SamplingSource::Threshold))),
            (Some("other=1"), Some("10"), Some("20"), Some((10.0, SamplingSource::SampleRate))),
            (None, None, Some("20"), Some((20.0, SamplingSource::SampleRate))),
            (None, Some("x"), Some("20"), Some((20.0, SamplingSource::SampleRate))),
            (None, Some("0"), None, Some((1.0, SamplingSource::SampleRate))),
            (None, Some("-3"), None, None),
            (None, Some("2.5"), None, None),
        ];
        for &(ts, span, resource, want) in cases {
            let rate = || span.and_then(sample_rate).or_else(|| resource.and_then(sample_rate));
            assert_eq!(adjusted_count(ts, rate), want, "{ts:?} {span:?} {resource:?}");
        }
    }

    #[test]
    fn whole_counts_are_exact_for_integers_and_unbiased_otherwise() {
        assert_eq!(whole_count(4.0, &[1; 16], &[2; 8]), 4);
        assert_eq!(whole_count(1.0, &[1; 16], &[2; 8]), 1);
        let count = threshold_adjusted_count(threshold("e666").unwrap());
        let n = 200_000u64;
        let mut sum = 0i64;
        for i in 0..n {
            let w = whole_count(count, &i.to_le_bytes().repeat(2), &i.to_be_bytes());
            assert!(w == 9 || w == 10);
            sum += w;
        }
        let mean = sum as f64 / n as f64;
        // Each rounding is Bernoulli(0.99939) on top of 9: the standard error of the mean is
        // about 5.5e-5, so 6e-4 is more than ten of them.
        assert!((mean - count).abs() < 6e-4, "mean {mean} vs {count}");
        // The same span always rounds the same way.
        let w = whole_count(2.5, &[7; 16], &[9; 8]);
        assert!((0..10).all(|_| whole_count(2.5, &[7; 16], &[9; 8]) == w));
    }
}
