//! Raster images (`image/png`, `image/jpeg`) compared by what they show, not by their bytes: a
//! plot rendered again by another library version, or encoded again, has other bytes but the
//! same picture; a plot whose data changed does not.
//!
//! Both images are decoded, turned to brightness and smoothed by a Gaussian blur of
//! [`BLUR_SIGMA`] pixels (which absorbs anti-aliasing and encoding noise); a pixel differs when
//! its brightness differs by more than [`PIXEL_TOLERANCE`] of 255, and the images differ when
//! more than [`DIFFERING_SHARE`] of their pixels do. Images whose sizes differ by a few pixels
//! (at most [`SIZE_SLACK_PIXELS`] or [`SIZE_SLACK_SHARE`] of a side, as when a LaTeX formula is
//! rendered a pixel taller by another version) are compared after scaling the actual one to the
//! golden's size; larger size changes differ. An output that cannot be decoded (another
//! format, say GIF) is not compared, as in nbval.

use base64::Engine as _;
use image::{GrayImage, imageops};

/// Standard deviation of the blur, in pixels.
pub(crate) const BLUR_SIGMA: f32 = 1.0;
/// Brightness difference (of 255) above which a pixel differs.
pub(crate) const PIXEL_TOLERANCE: u8 = 24;
/// Share of differing pixels above which the images differ (0.1 %: a one-pixel line across a
/// 400-pixel-wide plot is about 0.3 % of it).
pub(crate) const DIFFERING_SHARE: f64 = 0.001;

/// Pixels a side may differ by and still be compared by what the images show.
pub(crate) const SIZE_SLACK_PIXELS: u32 = 2;
/// Share of a side it may differ by, for larger images (5 %).
pub(crate) const SIZE_SLACK_SHARE: f64 = 0.05;

/// Whether sides of `golden` and `actual` pixels are close enough to compare after scaling.
fn close(golden: u32, actual: u32) -> bool {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a side's share
    let slack = SIZE_SLACK_PIXELS.max((f64::from(golden) * SIZE_SLACK_SHARE) as u32);
    golden.abs_diff(actual) <= slack
}

/// How two images differ, as (expected, actual) descriptions; `None` when they look the same.
pub(crate) fn differ(golden: &str, actual: &str) -> Option<(String, String)> {
    match (decode(golden), decode(actual)) {
        (Some(g), Some(a)) => {
            let describe = |i: &GrayImage| format!("image {}x{}", i.width(), i.height());
            if g.dimensions() != a.dimensions() {
                if !(close(g.width(), a.width()) && close(g.height(), a.height())) {
                    return Some((describe(&g), describe(&a)));
                }
                return nearly_sized(&g, &a)
                    .map(|share| (describe(&g), format!("{}, {share}", describe(&a))));
            }
            compare(&g, &a).map(|share| (describe(&g), format!("{}, {share}", describe(&a))))
        }
        // Not a picture nbv can read (another format, or not an image at all): as nbval, it
        // is not compared; presence was checked by its MIME type.
        _ => None,
    }
}

/// How much two images of nearly one size differ, when they look different: the actual one is
/// scaled to the golden's size, and also laid over it at every offset the extra pixels allow
/// (a canvas a pixel taller has the same picture one pixel lower or not); the closest counts.
fn nearly_sized(golden: &GrayImage, actual: &GrayImage) -> Option<Share> {
    let scaled = imageops::resize(
        actual,
        golden.width(),
        golden.height(),
        imageops::FilterType::Triangle,
    );
    let mut closest = compare(golden, &scaled)?;
    let (w, h) = (
        golden.width().min(actual.width()),
        golden.height().min(actual.height()),
    );
    for dx in 0..=golden.width().abs_diff(actual.width()) {
        for dy in 0..=golden.height().abs_diff(actual.height()) {
            // The larger side of either image is the one laid at an offset.
            let crop = |img: &GrayImage| {
                let x = if img.width() > w { dx } else { 0 };
                let y = if img.height() > h { dy } else { 0 };
                imageops::crop_imm(img, x, y, w, h).to_image()
            };
            let (g, a) = (crop(golden), crop(actual));
            match compare(&g, &a) {
                None => return None,
                Some(share) => closest = closest.min(share),
            }
        }
    }
    Some(closest)
}

/// How much two images of one size differ, when they look different.
fn compare(golden: &GrayImage, actual: &GrayImage) -> Option<Share> {
    let (g, a) = (
        imageops::blur(golden, BLUR_SIGMA),
        imageops::blur(actual, BLUR_SIGMA),
    );
    let differing = g
        .pixels()
        .zip(a.pixels())
        .filter(|(p, q)| p.0[0].abs_diff(q.0[0]) > PIXEL_TOLERANCE)
        .count();
    let total = (g.width() as usize * g.height() as usize).max(1);
    #[allow(clippy::cast_precision_loss)] // a share of pixels needs no more precision
    let share = differing as f64 / total as f64;
    (share > DIFFERING_SHARE).then_some(Share(share))
}

/// The share of pixels that look different.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct Share(f64);

impl Share {
    fn min(self, other: Self) -> Self {
        if other < self { other } else { self }
    }
}

impl std::fmt::Display for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2}% of its pixels look different", self.0 * 100.0)
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

    /// A `w`x`h` white image with a dark disc of radius 6 at (`cx`, 10), as a formula or a
    /// marker renders on a canvas of its own size.
    fn disc(w: u32, h: u32, cx: f32) -> String {
        let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
        for (x, y, p) in img.enumerate_pixels_mut() {
            #[allow(clippy::cast_precision_loss)] // pixel coordinates
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            if (px - cx).hypot(py - 10.0) <= 6.0 {
                *p = Rgb([20, 20, 20]);
            }
        }
        let mut bytes = std::io::Cursor::new(Vec::new());
        img.write_to(&mut bytes, ImageFormat::Png).expect("encodes");
        base64::engine::general_purpose::STANDARD.encode(bytes.into_inner())
    }

    #[test]
    fn a_picture_rendered_a_pixel_or_two_larger_matches_and_a_moved_one_does_not() {
        // As a LaTeX formula rendered at 23x22 by one version and 23x20 by another, and at
        // 70x26 and 70x25.
        assert_eq!(differ(&disc(23, 22, 11.5), &disc(23, 20, 11.5)), None);
        assert_eq!(differ(&disc(70, 26, 35.0), &disc(70, 25, 35.0)), None);
        // The same size change with the picture moved still differs, and says by how much.
        let (expected, actual) =
            differ(&disc(70, 26, 20.0), &disc(70, 25, 50.0)).expect("a moved disc differs");
        assert_eq!(expected, "image 70x26");
        assert!(
            actual.starts_with("image 70x25, ") && actual.ends_with("of its pixels look different"),
            "{actual}"
        );
        // Larger size changes are not scaled away.
        assert!(differ(&disc(70, 26, 35.0), &disc(70, 40, 35.0)).is_some());
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
