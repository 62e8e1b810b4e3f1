//! Small helpers shared by several stages: byte-size parsing, human-readable formatting and
//! phase timing, points in time ([`time`]); and [`leftovers`], the tidying of what killed runs
//! left behind, the only part that touches the file system.

pub mod leftovers;
pub mod time;

use std::time::Instant;

/// Wall time of a run's phases, in order (shown with `--timings`; never written to an output,
/// which stays the same bytes run after run).
#[derive(Debug, Clone)]
pub struct Phases {
    last: Instant,
    pub done: Vec<(&'static str, f64)>,
}

impl Phases {
    pub fn start() -> Self {
        Phases { last: Instant::now(), done: Vec::new() }
    }

    /// Seconds from the start to the last mark: the run's wall time once its last phase ends.
    pub fn total(&self) -> f64 {
        self.done.iter().map(|(_, s)| s).sum()
    }

    /// End the phase called `name`: the time since the previous mark (or the start).
    pub fn mark(&mut self, name: &'static str) {
        let now = Instant::now();
        self.done.push((name, now.duration_since(self.last).as_secs_f64()));
        self.last = now;
    }

    /// `timings: read 1.38 s, derive 1.45 s, query 0.42 s, write 0.33 s`.
    pub fn text(&self) -> String {
        let parts: Vec<String> = self.done.iter().map(|(name, s)| format!("{name} {s:.2} s")).collect();
        format!("timings: {}\n", parts.join(", "))
    }
}

/// Parse a byte size: `1048576`, `64KiB`, `512MiB`, `4GiB`, `1MB`, `2G` (K/M/G/T; `i` forms and
/// bare letters are powers of 1024, `KB`/`MB`/... powers of 1000).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("invalid size {text:?}: expected e.g. 1048576, 64KiB or 4GiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(format!("invalid size unit in {text:?}: use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("size {text:?} is too large"))
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A small deterministic pseudo-random generator (SplitMix64), so tests need no extra crate.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A time in ns since the epoch as RFC 3339 in UTC: `2026-11-22T23:59:00Z` (fractions only when
/// present).
pub fn utc_text(ns: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Hand freed heap memory back to the operating system. Between the stages of a large run
/// (derivation, then queries) glibc keeps the freed pages of the first stage mapped, so the
/// peak RSS would be the sum of the stages instead of the larger one. A no-op elsewhere.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the heap to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_text(1_500_000_000), "1970-01-01T00:00:01.500Z");
    }

    #[test]
    fn sizes_parse() {
        let cases = [
            ("1048576", Some(1 << 20)),
            ("64KiB", Some(64 << 10)),
            ("4g", Some(4 << 30)),
            ("1MB", Some(1_000_000)),
            ("x", None),
            ("5 parsecs", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_size(text).ok(), want, "{text}");
        }
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
