//! The provisioning QR code as a PNG: the payload's JSON as a QR matrix
//! (error correction M), four modules of quiet zone, eight pixels a
//! module, 8-bit greyscale.

use crate::error::{CliError, Context};

/// Pixels per module.
const SCALE: usize = 8;
/// Modules of white border.
const QUIET: usize = 4;

/// The PNG of a QR code carrying `text`.
pub(crate) fn png(text: &str) -> Result<Vec<u8>, CliError> {
    let code = qrcode::QrCode::new(text.as_bytes()).context("encoding the QR code")?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
        for y in my * SCALE..(my + 1) * SCALE {
            pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
        }
    }
    let side32 = u32::try_from(side).context("QR code size")?;
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, side32, side32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().context("writing the PNG")?;
    w.write_image_data(&pixels).context("writing the PNG")?;
    w.finish().context("writing the PNG")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads the module grid back from the PNG's pixels.
    fn modules_of(png_bytes: &[u8]) -> (usize, Vec<bool>) {
        let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        let side = info.width as usize;
        assert_eq!(side, info.height as usize);
        let modules = side / SCALE - 2 * QUIET;
        let mut grid = Vec::new();
        for my in 0..modules {
            for mx in 0..modules {
                let (x, y) = (
                    (mx + QUIET) * SCALE + SCALE / 2,
                    (my + QUIET) * SCALE + SCALE / 2,
                );
                grid.push(buf[y * side + x] == 0);
            }
        }
        (modules, grid)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn the_png_holds_the_qr_matrix_of_its_text(text in "[ -~]{1,300}") {
            let (modules, grid) = modules_of(&png(&text).unwrap());
            let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
            prop_assert_eq!(modules, code.width());
            let want: Vec<bool> = code.to_colors().iter().map(|c| *c == qrcode::Color::Dark).collect();
            prop_assert_eq!(grid, want);
        }
    }
}
