//! `curves.png`: D and G loss and FID against epoch; and `trainer
//! compare`'s FID curves of several runs in one chart.

use std::path::Path;
use std::sync::Once;

use anyhow::anyhow;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::files;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 640;

/// One point per epoch.
pub struct Curves {
    /// `(epoch, mean D loss, mean G loss)`
    pub losses: Vec<(f64, f64, f64)>,
    /// `(epoch, FID)`
    pub fid: Vec<(f64, f64)>,
    /// The epoch a collapse was detected at, drawn as a vertical line.
    pub collapse: Option<f64>,
}

fn register_fonts() {
    // plotters draws text with fonts it is given (no system font lookup).
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).ok().expect("DejaVu Sans parses");
    });
}

/// A chart's drawing onto a `WIDTH` x `HEIGHT` RGB buffer.
type DrawResult<'a> = Result<(), Box<dyn std::error::Error + 'a>>;

/// Draws a chart with `draw` onto an RGB buffer, then writes it as a PNG at `path`.
fn render(path: &Path, draw: impl for<'a> FnOnce(&'a mut [u8]) -> DrawResult<'a>) -> anyhow::Result<()> {
    register_fonts();
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    draw(&mut rgb).map_err(|e| anyhow!("drawing {}: {e}", path.display()))?;
    let image = image::RgbImage::from_raw(WIDTH, HEIGHT, rgb).expect("buffer of WIDTH*HEIGHT pixels");
    let mut png = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    files::write_atomic(path, &png)
}

/// Draws `curves` and writes them as a PNG at `path`.
pub fn write(path: &Path, title: &str, curves: &Curves) -> anyhow::Result<()> {
    render(path, |rgb| draw(rgb, title, curves))
}

fn draw<'a>(rgb: &'a mut [u8], title: &str, curves: &Curves) -> DrawResult<'a> {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let (top, bottom) = root.split_vertically(HEIGHT / 2 - 10);
    let last_epoch = curves.losses.iter().map(|p| p.0).chain(curves.fid.iter().map(|p| p.0)).fold(1.0, f64::max);

    let max_loss = curves.losses.iter().flat_map(|p| [p.1, p.2]).filter(|v| v.is_finite()).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&top)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..last_epoch, 0.0..max_loss * 1.05)?;
    chart.configure_mesh().x_desc("epoch").y_desc("mean loss").draw()?;
    for (name, color, pick) in [("D loss", BLUE, 1), ("G loss", RED, 2)] {
        let points = curves.losses.iter().map(|p| (p.0, if pick == 1 { p.1 } else { p.2 })).filter(|p| p.1.is_finite());
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    if let Some(epoch) = curves.collapse {
        chart
            .draw_series(LineSeries::new([(epoch, 0.0), (epoch, max_loss * 1.05)], BLACK.stroke_width(1)))?
            .label("collapse detected")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;

    let max_fid = curves.fid.iter().map(|p| p.1).filter(|v| v.is_finite()).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..last_epoch, 0.0..max_fid * 1.05)?;
    chart.configure_mesh().x_desc("epoch").y_desc("FID (lower is better)").draw()?;
    let green = RGBColor(0, 140, 60);
    chart.draw_series(LineSeries::new(curves.fid.iter().copied(), green.stroke_width(2)))?;
    chart.draw_series(curves.fid.iter().map(|&p| Circle::new(p, 3, green.filled())))?;
    root.present()?;
    Ok(())
}

/// One run's FID curve in a comparison: its name and `(epochs, FID)` points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Draws the FID curves of several runs against epochs (images seen /
/// 60,000), FID on a log scale (from thousands early on down to tens), and
/// writes them as a PNG at `path`.
pub fn write_comparison(path: &Path, series: &[Series]) -> anyhow::Result<()> {
    render(path, |rgb| draw_comparison(rgb, series))
}

/// Line colours, distinguishable and not too light on white.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

fn draw_comparison<'a>(rgb: &'a mut [u8], series: &[Series]) -> DrawResult<'a> {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled("FID against training (matched FID for 32x32 models)", ("sans-serif", 22))?;
    let finite = || series.iter().flat_map(|s| &s.points).filter(|p| p.1.is_finite() && p.1 > 0.0);
    let last_epoch = finite().map(|p| p.0).fold(1.0, f64::max);
    let (low, high) = finite().fold((f64::INFINITY, 1.0f64), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let low = if low.is_finite() { low * 0.8 } else { 1.0 };
    let mut chart = ChartBuilder::on(&root)
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..last_epoch * 1.02, (low..high * 1.25).log_scale())?;
    chart.configure_mesh().x_desc("epochs (images seen / 60,000)").y_desc("FID (log scale, lower is better)").draw()?;
    for (s, &color) in series.iter().zip(PALETTE.iter().cycle()) {
        let points: Vec<(f64, f64)> = s.points.iter().copied().filter(|p| p.1.is_finite() && p.1 > 0.0).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png_with_curves_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.png");
        let curves = Curves {
            losses: (1..=5).map(|e| (e as f64, 1.0 + 0.1 * e as f64, 2.0 - 0.1 * e as f64)).collect(),
            fid: vec![(1.0, 40.0), (3.0, 20.0), (5.0, 10.0)],
            collapse: Some(4.0),
        };
        write(&path, "test run", &curves).unwrap();
        let image = image::open(&path).unwrap().to_rgb8();
        assert_eq!(image.dimensions(), (WIDTH, HEIGHT));
        // Blue, red and green lines and dark text are drawn on the white page.
        let has = |f: &dyn Fn(&image::Rgb<u8>) -> bool| image.pixels().any(f);
        assert!(has(&|p| p[2] > 200 && p[0] < 60 && p[1] < 60), "no blue D curve");
        assert!(has(&|p| p[0] > 200 && p[1] < 60 && p[2] < 60), "no red G curve");
        assert!(has(&|p| p[1] > 120 && p[0] < 30 && p[2] < 90), "no green FID curve");
    }

    #[test]
    fn compares_runs_in_one_chart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("compare.png");
        let series = [
            Series { name: "a".into(), points: vec![(1.0, 2000.0), (2.0, 300.0), (3.0, f64::NAN)] },
            Series { name: "b".into(), points: vec![(0.5, 900.0), (3.0, 20.0)] },
        ];
        write_comparison(&path, &series).unwrap();
        let image = image::open(&path).unwrap().to_rgb8();
        let has = |c: RGBColor| image.pixels().any(|p| p.0 == [c.0, c.1, c.2]);
        assert!(has(PALETTE[0]) && has(PALETTE[1]), "both runs are drawn, each in its colour");
        assert!(!has(PALETTE[2]), "and no third");
    }
}
