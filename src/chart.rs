//! The calibration chart: approval rate against score, one line per model
//! (a point per 0.05 band with decisions), each model's recommended
//! threshold marked, the target share drawn across; rendered with
//! `plotters` into memory and encoded as PNG with `image`.
//!
//! Text is drawn with DejaVu Sans, bundled (`assets/fonts`, with its
//! licence), so no system font library is needed.

use std::io::Cursor;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::calibration::{percent, Calibration, Threshold};

/// The chart's size in pixels, as uploaded to Slack.
pub const WIDTH: u32 = 1000;
pub const HEIGHT: u32 = 600;

const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("cannot draw the calibration chart: {0}")]
    Draw(String),
    #[error("cannot encode the calibration chart as PNG: {0}")]
    Encode(#[from] image::ImageError),
}

fn draw_error(err: impl std::fmt::Display) -> ChartError {
    ChartError::Draw(err.to_string())
}

/// The bundled font, registered once as the family plotters draws labels in.
fn font_ready() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font("sans-serif", FontStyle::Normal, FONT)
                .map_err(|_| "the bundled font could not be read".to_owned())
        })
        .clone()
        .map_err(ChartError::Draw)
}

/// The chart as PNG bytes, `WIDTH` × `HEIGHT`.
pub fn calibration_png(calibration: &Calibration) -> Result<Vec<u8>, ChartError> {
    font_ready()?;
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    draw(calibration, &mut pixels)?;
    let image = image::RgbImage::from_raw(WIDTH, HEIGHT, pixels)
        .ok_or_else(|| ChartError::Draw("the pixel buffer has the wrong size".to_owned()))?;
    let mut png = Vec::new();
    image.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}

fn draw(calibration: &Calibration, pixels: &mut [u8]) -> Result<(), ChartError> {
    let root = BitMapBackend::with_buffer(pixels, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Share of suggestions approved, by model score (target {})",
                percent(calibration.target)
            ),
            ("sans-serif", 24),
        )
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_desc("model score (bands 0.05 wide)")
        .y_desc("approved")
        .y_label_formatter(&|rate| percent(*rate))
        .draw()
        .map_err(draw_error)?;
    let target = calibration.target;
    chart
        .draw_series(LineSeries::new(
            [(0.0, target), (1.0, target)],
            BLACK.mix(0.4).stroke_width(1),
        ))
        .map_err(draw_error)?
        .label(format!("target {}", percent(target)))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.4)));
    for (n, model) in calibration.models.iter().enumerate() {
        let color = Palette99::pick(n).to_rgba();
        let points: Vec<(f64, f64)> = model
            .bands
            .iter()
            .filter_map(|band| {
                band.share
                    .rate()
                    .map(|rate| ((band.from + band.to) / 2.0, rate))
            })
            .collect();
        let label = match model.threshold {
            Threshold::At { score, .. } => format!("{} (threshold {score:.2})", model.model),
            _ => format!("{} (no threshold yet)", model.model),
        };
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(draw_error)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))
            .map_err(draw_error)?;
        if let Threshold::At { score, .. } = model.threshold {
            chart
                .draw_series(LineSeries::new(
                    [(score, 0.0), (score, 1.0)],
                    color.mix(0.6).stroke_width(2),
                ))
                .map_err(draw_error)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(draw_error)?;
    root.present().map_err(draw_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::calibration::BinRow;

    #[test]
    fn the_chart_is_a_png_of_the_expected_size() {
        let rows: Vec<BinRow> = (0..100)
            .map(|bin| BinRow {
                model: if bin % 2 == 0 {
                    "tagger-v2"
                } else {
                    "tagger-v3"
                }
                .into(),
                tag_id: "t1".into(),
                tag_name: "פילוסופיה".into(),
                bin,
                decisions: 20,
                approved: (bin as u64 * 20) / 100,
                ..BinRow::default()
            })
            .collect();
        let calibration = Calibration::from_rows(&rows, 0.95);
        let png = calibration_png(&calibration).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "the PNG signature");
        let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (WIDTH, HEIGHT));
        // Not blank: the lines and text drew something other than white.
        let rgb = decoded.to_rgb8();
        let drawn = rgb.pixels().filter(|p| p.0 != [255, 255, 255]).count();
        assert!(drawn > 5_000, "{drawn} pixels drawn");
    }

    #[test]
    fn a_chart_without_decisions_still_draws() {
        let png = calibration_png(&Calibration::from_rows(&[], 0.95)).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}
