//! The SLO table as text, and the words and figures of each SLO that the text and HTML
//! renderings share.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::model::table::Columns;
use crate::report::text::{fixed, plain};
use crate::slo::SloReport;

/// What each SLO of an `slos` table measures, in words: `p99 latency <= 300 ms per 300s`,
/// `requests without fault`, `requests with latency < 300 ms >= 95 % per 60s`, `requests without
/// fault, mean share per 3600s`.
pub fn sli_descriptions(slos: &Columns) -> Vec<String> {
    let (evaluation, metric) = (slos.text("evaluation"), slos.text("metric"));
    let (statistic, operator) = (slos.text("statistic"), slos.text("operator"));
    let (threshold, period) = (slos.number("threshold"), slos.text("period_seconds"));
    let (bad, request_operator, request_threshold) =
        (slos.text("bad"), slos.text("request_operator"), slos.number("request_threshold"));
    let rule = slos.text("attainment_rule");
    (0..slos.len())
        .map(|r| {
            let op = operator[r].as_deref().unwrap_or("–");
            let limit = plain(threshold[r]);
            let per = period[r].as_deref().unwrap_or("–");
            let good = match (metric[r].as_deref(), bad[r].as_deref()) {
                (Some("AVAILABILITY"), Some("error")) => "requests without error".to_string(),
                (Some("AVAILABILITY"), Some("fault_or_error")) => "requests without fault or error".to_string(),
                (Some("AVAILABILITY"), _) => "requests without fault".to_string(),
                _ => format!(
                    "requests with latency {} {} ms",
                    request_operator[r].as_deref().unwrap_or(op),
                    plain(request_threshold[r].or(threshold[r]))
                ),
            };
            match (evaluation[r].as_deref(), metric[r].as_deref(), statistic[r].as_deref()) {
                (Some("PeriodBased"), _, _) if rule[r].as_deref() == Some("mean_value") => {
                    format!("{good}, mean share per {per}s")
                }
                (Some("PeriodBased"), _, Some("good share")) => format!("{good} {op} {limit} % per {per}s"),
                (Some("PeriodBased"), Some("AVAILABILITY"), _) => format!("availability {op} {limit} % per {per}s"),
                (Some("PeriodBased"), _, stat) => {
                    format!("{} latency {op} {limit} ms per {per}s", stat.unwrap_or("–"))
                }
                _ => good,
            }
        })
        .collect()
}

/// Each SLO's burn rates as `60m 1.49`, in window order.
pub fn burn_rates_by_slo(report: &SloReport) -> Result<BTreeMap<String, Vec<String>>> {
    let burns = Columns::of(&report.tables[2])?;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (slo, minutes, rate) = (burns.text("slo"), burns.int("lookback_minutes"), burns.number("burn_rate"));
    for r in 0..burns.len() {
        let window = format!("{}m {}", minutes[r].unwrap_or_default(), fixed(rate[r], ""));
        out.entry(slo[r].clone().unwrap_or_default()).or_default().push(window);
    }
    Ok(out)
}

/// The SLO table as text: SLO, SLI, goal and interval, attainment, budget left, status and
/// the burn rates; one line per SLO, "–" where a value is undefined.
pub fn render_slos(report: &SloReport) -> Result<String> {
    let slos = Columns::of(&report.tables[0])?;
    let mut burns = burn_rates_by_slo(report)?;
    let (name, goal, interval) = (slos.text("slo"), slos.number("goal"), slos.text("goal_interval"));
    let (attainment, left, status) =
        (slos.number("attainment"), slos.number("budget_remaining_pct"), slos.text("status"));
    let rows: Vec<Vec<String>> = sli_descriptions(&slos)
        .into_iter()
        .enumerate()
        .map(|(r, sli)| {
            let name = name[r].clone().unwrap_or_default();
            vec![
                name.clone(),
                sli,
                format!("{} % over {}", plain(goal[r]), interval[r].as_deref().unwrap_or("–")),
                fixed(attainment[r], " %"),
                fixed(left[r], " %"),
                status[r].clone().unwrap_or_default(),
                burns.remove(&name).map(|v| v.join(", ")).unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["SLO", "SLI", "Goal", "Attainment", "Budget left", "Status", "Burn rates"];
    Ok(crate::report::text::table(&header, &rows, &[0, 1, 2, 5, 6]))
}
