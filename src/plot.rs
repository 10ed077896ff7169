//! The chart of `vstyle eval --plot`: the warping error over time, one
//! line per output, in [`COLORS`] order (drawn by `charts`).
use std::path::Path;

use crate::charts::{LineChart, Series};
use crate::error::Result;
use crate::video::write_image_atomic;

pub use crate::charts::COLORS;

/// Plots each named series (the warping error of frames 1.. of an output).
pub fn line_chart(path: &Path, series: &[(String, Vec<f64>)]) -> Result<()> {
    let lines: Vec<Series> = series
        .iter()
        .map(|(name, values)| Series {
            name: name.clone(),
            points: values
                .iter()
                .enumerate()
                .map(|(t, v)| (t as f64 + 1.0, *v))
                .collect(),
        })
        .collect();
    let chart = LineChart {
        title: "Warping error per frame (lower is steadier)",
        x_label: "frame",
        y_label: "warping error",
        log_y: false,
        series: &lines,
        size: (720, 300),
    };
    write_image_atomic(path, &chart.render()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_series_in_their_colours() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.png");
        let series = [
            ("a.mp4".into(), vec![1.0, 2.0, 3.0]),
            ("b.mp4".into(), vec![0.5, 0.5, 0.5]),
        ];
        line_chart(&p, &series).unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        let count = |c: [u8; 3]| img.pixels().filter(|p| p.0 == c).count();
        assert!(count(COLORS[0]) > 100 && count(COLORS[1]) > 100);
    }
}
