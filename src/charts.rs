//! Charts and text drawn with plotters into RGB images: the HTML report's
//! per-frame plots and the preview sheet's labels. Text uses the bundled
//! DejaVu Sans (`assets/fonts`), so nothing depends on the machine's fonts.
use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;

static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Line colours, in series order (matplotlib's first five, then black).
pub const COLORS: [[u8; 3]; 6] = [
    [214, 39, 40],
    [255, 127, 14],
    [31, 119, 180],
    [44, 160, 44],
    [148, 103, 189],
    [0, 0, 0],
];

#[derive(Debug, thiserror::Error)]
#[error("cannot draw {what}")]
pub struct ChartError {
    pub what: String,
    #[source]
    pub source: Cause,
}

/// What plotters reported beneath a [`ChartError`].
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

fn fail(what: &str) -> impl Fn(Cause) -> ChartError + '_ {
    move |source| ChartError {
        what: what.to_string(),
        source,
    }
}

/// Plotters finds fonts by family name; ours is registered once per process.
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Bundled at compile time and parsed by a unit test: cannot fail here.
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the bundled font does not parse"));
    });
}

/// One line of a chart: (x, y) points in x order.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A line chart with a title, axis names and a legend.
pub struct LineChart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    /// A log10 y axis (for losses spanning decades); points <= 0 are left out.
    pub log_y: bool,
    pub series: &'a [Series],
    pub size: (u32, u32),
}

impl LineChart<'_> {
    /// The series as drawn: y in log10 when `log_y`, non-positive points
    /// dropped there, empty series left out.
    fn drawn(&self) -> Vec<(usize, Vec<(f64, f64)>)> {
        let y = |v: f64| if self.log_y { v.log10() } else { v };
        self.series
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let pts = s.points.iter().filter(|p| !self.log_y || p.1 > 0.0);
                (i, pts.map(|&(x, v)| (x, y(v))).collect::<Vec<_>>())
            })
            .filter(|(_, p)| p.iter().all(|(x, y)| x.is_finite() && y.is_finite()))
            .filter(|(_, p)| !p.is_empty())
            .collect()
    }

    /// Draws the chart.
    pub fn render(&self) -> Result<RgbImage, ChartError> {
        register_font();
        let (w, h) = self.size;
        let mut buf = vec![255u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            // The legend has its own column, so it never hides a line.
            let (plot, side) = root.split_horizontally(w.saturating_sub(LEGEND_WIDTH));
            let series = self.drawn();
            self.draw(&plot, &series)?;
            self.legend(&side, &series)?;
            root.present().map_err(|e| fail(self.title)(e.into()))?;
        }
        Ok(RgbImage::from_raw(w, h, buf).expect("a buffer of w*h*3 bytes"))
    }

    fn draw(&self, root: &Area, series: &[(usize, Vec<(f64, f64)>)]) -> Result<(), ChartError> {
        let err = fail(self.title);
        let all = || series.iter().flat_map(|(_, p)| p.iter());
        let (x0, x1) = span(all().map(|p| p.0));
        let (y0, y1) = span(all().map(|p| p.1));
        let pad = if self.log_y { 0.1 } else { (y1 - y0) * 0.05 };
        let y0 = if self.log_y || y0 < 0.0 {
            y0 - pad
        } else {
            0.0
        };
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FAMILY, 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1 + pad)
            .map_err(|e| err(e.into()))?;
        // Frame numbers are whole: a fractional tick gets no text.
        let x_text = |v: &f64| match v.fract() == 0.0 {
            true => format!("{v}"),
            false => String::new(),
        };
        let log = self.log_y;
        let y_text = move |v: &f64| match log {
            true => format!("{:.0e}", 10f64.powf(*v)),
            false => format!("{}", round_label(*v)),
        };
        chart
            .configure_mesh()
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .label_style((FAMILY, 12))
            .axis_desc_style((FAMILY, 13))
            .x_labels(((x1 - x0) as usize + 1).clamp(2, 12))
            .x_label_formatter(&x_text)
            .y_label_formatter(&y_text)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| err(e.into()))?;
        for (i, points) in series {
            let style = colour(*i).stroke_width(2);
            // Dots mark the frames while they can be told apart.
            if points.len() <= 60 {
                let dots = points.iter().map(|&p| Circle::new(p, 3, style.filled()));
                chart.draw_series(dots).map_err(|e| err(e.into()))?;
            }
            let line = LineSeries::new(points.clone(), style);
            chart.draw_series(line).map_err(|e| err(e.into()))?;
        }
        Ok(())
    }

    /// A line of each drawn series' colour and its name, top down.
    fn legend(&self, area: &Area, series: &[(usize, Vec<(f64, f64)>)]) -> Result<(), ChartError> {
        let err = fail(self.title);
        for (k, (i, _)) in series.iter().enumerate() {
            let y = 44 + 20 * k as i32;
            let style = colour(*i).stroke_width(2);
            area.draw(&PathElement::new(vec![(4, y), (24, y)], style))
                .map_err(|e| err(e.into()))?;
            let text = (FAMILY, 12).into_font().color(&BLACK);
            area.draw(&Text::new(self.series[*i].name.as_str(), (30, y - 7), text))
                .map_err(|e| err(e.into()))?;
        }
        Ok(())
    }
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Room on the right of a chart for its legend.
const LEGEND_WIDTH: u32 = 110;

fn colour(i: usize) -> RGBColor {
    let [r, g, b] = COLORS[i % COLORS.len()];
    RGBColor(r, g, b)
}

/// The range of `values`, widened when it is a single value.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    match (lo.is_finite(), hi > lo) {
        (false, _) => (0.0, 1.0),
        (true, true) => (lo, hi),
        (true, false) => (lo - 0.5, hi + 0.5),
    }
}

/// Axis numbers without float noise (0.30000000000000004 -> 0.3).
fn round_label(v: f64) -> f64 {
    if v == 0.0 {
        return 0.0;
    }
    let digits = 3 - v.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits.clamp(-12, 12));
    (v * scale).round() / scale
}

/// Text at a place in a picture.
pub struct Label<'a> {
    pub text: &'a str,
    /// Top-left corner, in pixels.
    pub at: (i32, i32),
    /// Font size in pixels.
    pub size: f64,
}

/// Width and height in pixels of `text` at font size `size`.
pub fn text_size(text: &str, size: f64) -> (u32, u32) {
    register_font();
    (FAMILY, size).into_font().box_size(text).unwrap_or((0, 0))
}

/// Writes `labels` in black onto `img`.
pub fn draw_labels(img: &mut RgbImage, labels: &[Label]) -> Result<(), ChartError> {
    register_font();
    let dims = img.dimensions();
    let root = BitMapBackend::with_buffer(img.as_mut(), dims).into_drawing_area();
    for l in labels {
        let style = (FAMILY, l.size).into_font().color(&BLACK);
        root.draw(&Text::new(l.text, l.at, style))
            .map_err(|e| fail(l.text)(e.into()))?;
    }
    root.present().map_err(|e| fail("labels")(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(img: &RgbImage, c: [u8; 3]) -> usize {
        img.pixels().filter(|p| p.0 == c).count()
    }

    #[test]
    fn draws_each_series_in_its_colour_with_text() {
        let series = [
            Series {
                name: "style".into(),
                points: vec![(0.0, 1e4), (1.0, 3e3), (2.0, 2e3)],
            },
            Series {
                name: "temporal".into(),
                points: vec![(0.0, 0.0), (1.0, 50.0), (2.0, 40.0)],
            },
        ];
        let chart = LineChart {
            title: "losses",
            x_label: "frame",
            y_label: "loss",
            log_y: true,
            series: &series,
            size: (480, 240),
        };
        let img = chart.render().unwrap();
        assert_eq!(img.dimensions(), (480, 240));
        assert!(count(&img, COLORS[0]) > 50 && count(&img, COLORS[1]) > 50);
        // Text is anti-aliased: grey pixels appear only where it was drawn.
        let grey = img
            .pixels()
            .filter(|p| p[0] == p[1] && p[1] == p[2] && (60..200).contains(&p[0]));
        assert!(grey.count() > 100);
    }

    #[test]
    fn labels_leave_ink_where_they_are_written() {
        let mut img = RgbImage::from_pixel(200, 60, image::Rgb([255, 255, 255]));
        let (w, h) = text_size("style_weight=50", 14.0);
        assert!(w > 60 && h >= 10, "{w}x{h}");
        draw_labels(
            &mut img,
            &[Label {
                text: "style_weight=50",
                at: (4, 4),
                size: 14.0,
            }],
        )
        .unwrap();
        let dark = |x0: u32, x1: u32| {
            (x0..x1)
                .flat_map(|x| (0..60).map(move |y| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y)[0] < 128)
                .count()
        };
        assert!(dark(4, 4 + w) > 30);
        assert_eq!(dark(4 + w + 4, 200), 0);
    }

    #[test]
    fn axis_labels_are_rounded() {
        assert_eq!(round_label(0.30000000000000004), 0.3);
        assert_eq!(round_label(12345.678), 12350.0);
    }
}
