//! The console's charts, drawn on the server as SVG by `plotters` (no
//! script in the page): emails per day, sent or forecast.

use chrono::NaiveDate;
use plotters::prelude::*;

/// A bar per day from `from` to `to` (days without sends at 0), as an SVG
/// element to put in the page; empty if it cannot be drawn.
pub fn per_day(counts: &[(NaiveDate, i64)], from: NaiveDate, to: NaiveDate, what: &str) -> String {
    let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
    let values: Vec<i64> = days.iter().map(|d| counts.iter().filter(|(c, _)| c == d).map(|(_, n)| n).sum()).collect();
    let mut svg = String::new();
    let drawn = draw(&mut svg, &days, &values, what);
    if drawn.is_err() {
        return String::new();
    }
    svg
}

fn draw(svg: &mut String, days: &[NaiveDate], values: &[i64], what: &str) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::with_string(svg, (720, 220)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let top = values.iter().copied().max().unwrap_or(0).max(1);
    let n = days.len() as u32;
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(48)
        .build_cartesian_2d(0u32..n.max(1), 0i64..top + top / 10 + 1)
        .map_err(|e| err(&e))?;
    let label = |i: &u32| days.get(*i as usize).map(|d| d.format("%m-%d").to_string()).unwrap_or_default();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(8)
        .x_label_formatter(&label)
        .y_desc(what)
        .draw()
        .map_err(|e| err(&e))?;
    let bar = RGBColor(59, 110, 165).filled();
    chart
        .draw_series(values.iter().enumerate().map(|(i, v)| Rectangle::new([(i as u32, 0), (i as u32 + 1, *v)], bar)))
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    #[test]
    fn a_day_with_sends_is_a_bar_and_the_labels_are_dates() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let svg = super::per_day(&[(d("2026-03-03"), 12)], d("2026-03-01"), d("2026-03-07"), "emails sent");
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"), "{svg}");
        assert!(svg.contains("03-01") && svg.contains("emails sent"), "{svg}");
        assert!(svg.matches("<rect").count() >= 7, "a background and a bar per day");
    }
}
