//! Raster images (`image/png`, `image/jpeg`) compared by what they show, not by their bytes: a
//! plot rendered again by another library version, or encoded again, has other bytes but the
//! same picture; a plot whose data changed does not.
//!
//! Both images are decoded, turned to brightness and smoothed by a Gaussian blur of
//! [`BLUR_SIGMA`] pixels (which absorbs anti-aliasing and encoding noise); a pixel differs when
//! its brightness differs by more than [`PIXEL_TOLERANCE`] of 255, and the images differ when
//! more than [`DIFFERING_SHARE`] of their pixels do, or when their sizes differ. An output that
//! cannot be decoded (another format, say GIF) is not compared, as in nbval.

use base64::Engine as _;
use image::{GrayImage, imageops};

/// Standard deviation of the blur, in pixels.
pub(crate) const BLUR_SIGMA: f32 = 1.0;
/// Brightness difference (of 255) above which a pixel differs.
pub(crate) const PIXEL_TOLERANCE: u8 = 24;
/// Share of differing pixels above which the images differ (0.1 %: a one-pixel line across a
/// 400-pixel-wide plot is about 0.3 % of it).
pub(crate) const DIFFERING_SHARE: f64 = 0.001;

/// How two images differ, as (expected, actual) descriptions; `None` when they look the same.
pub(crate) fn differ(golden: &str, actual: &str) -> Option<(String, String)> {
    match (decode(golden), decode(actual)) {
        (Some(g), Some(a)) => {
            let describe = |i: &GrayImage| format!("image {}x{}", i.width(), i.height());
            if g.dimensions() != a.dimensions() {
                return Some((describe(&g), describe(&a)));
            }
            let (g, a) = (
                imageops::blur(&g, BLUR_SIGMA),
                imageops::blur(&a, BLUR_SIGMA),
            );
            let differing = g
                .pixels()
                .zip(a.pixels())
                .filter(|(p, q)| p.0[0].abs_diff(q.0[0]) > PIXEL_TOLERANCE)
                .count();
            let total = (g.width() as usize * g.height() as usize).max(1);
            #[allow(clippy::cast_precision_loss)] // a share of pixels needs no more precision
            let share = differing as f64 / total as f64;
            (share > DIFFERING_SHARE).then(|| {
                (
                    describe(&g),
                    format!(
                        "{}, {:.2}% of its pixels look different",
                        describe(&a),
                        share * 100.0
                    ),
                )
            })
        }
        // Not a picture nbv can read (another format, or not an image at all): as nbval, it
        // is not compared; presence was checked by its MIME type.
        _ => None,
    }
}

fn strip(b64: &str) -> String {
    b64.chars().filter(|c| !c.is_whitespace()).collect()
}

fn decode(b64: &str) -> Option<GrayImage> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(strip(b64))
        .ok()?;
    Some(image::load_from_memory(&bytes).ok()?.to_luma8())
}

#[cfg(test)]
mod tests {
    use image::{ImageFormat, Rgb, RgbImage};

    use super::*;

    /// A 200x100 white plot with a line at height `y`, encoded as `format`, in base64.
    fn plot(y: u32, format: ImageFormat) -> String {
        let mut img = RgbImage::from_pixel(200, 100, Rgb([255, 255, 255]));
        for x in 0..200 {
            img.put_pixel(x, y, Rgb([31, 119, 180]));
            img.put_pixel(x, y + 1, Rgb([31, 119, 180]));
        }
        let mut bytes = std::io::Cursor::new(Vec::new());
        img.write_to(&mut bytes, format).expect("encodes");
        base64::engine::general_purpose::STANDARD.encode(bytes.into_inner())
    }

    #[test]
    fn the_same_picture_encoded_otherwise_matches() {
        let png = plot(50, ImageFormat::Png);
        let jpeg = plot(50, ImageFormat::Jpeg);
        assert_ne!(png, jpeg);
        assert_eq!(differ(&png, &jpeg), None);
        // Line breaks inside the base64, as notebooks store it, change nothing.
        let wrapped = png
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(differ(&png, &wrapped), None);
    }

    #[test]
    fn a_plot_whose_data_moved_differs() {
        let (expected, actual) =
            differ(&plot(50, ImageFormat::Png), &plot(60, ImageFormat::Png)).expect("differs");
        assert_eq!(expected, "image 200x100");
        assert!(
            actual.contains("% of its pixels look different"),
            "{actual}"
        );
    }

    #[test]
    fn a_resized_image_differs_and_undecodable_ones_are_not_compared() {
        let small = {
            let img = RgbImage::from_pixel(20, 10, Rgb([255, 255, 255]));
            let mut bytes = std::io::Cursor::new(Vec::new());
            img.write_to(&mut bytes, ImageFormat::Png).expect("encodes");
            base64::engine::general_purpose::STANDARD.encode(bytes.into_inner())
        };
        assert_eq!(
            differ(&plot(50, ImageFormat::Png), &small),
            Some(("image 200x100".into(), "image 20x10".into()))
        );
        assert_eq!(differ("bm90IGFuIGltYWdl", "b3RoZXI="), None);
    }
}
