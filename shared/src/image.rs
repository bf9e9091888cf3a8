//! Generator output to 8-bit pixels, and tiling into a grid.

/// Maps generator output in `[-1, 1]` to 8-bit gray levels (0 black, 255 white).
pub fn to_pixels(values: &[f32]) -> Vec<u8> {
    values.iter().map(|&v| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8).collect()
}

/// A grayscale picture, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// Gap between tiles, in pixels, and its gray level.
pub const GRID_GAP: usize = 2;
pub const GRID_GAP_LEVEL: u8 = 64;

/// Tiles `count` square images of `side` pixels (`pixels` holds them one after
/// the other) into rows of `columns`, `GRID_GAP` pixels apart.
pub fn grid(pixels: &[u8], side: usize, columns: usize) -> Gray {
    let tile = side * side;
    assert!(columns > 0 && pixels.len().is_multiple_of(tile), "pixels must hold whole {side}x{side} images");
    let (width, height) = grid_size(pixels.len() / tile, side, columns);
    let mut out = vec![GRID_GAP_LEVEL; width * height];
    for (i, image) in pixels.chunks_exact(tile).enumerate() {
        let x0 = GRID_GAP + (i % columns) * (side + GRID_GAP);
        let y0 = GRID_GAP + (i / columns) * (side + GRID_GAP);
        for (y, row) in image.chunks_exact(side).enumerate() {
            let start = (y0 + y) * width + x0;
            out[start..start + side].copy_from_slice(row);
        }
    }
    Gray { width, height, pixels: out }
}

/// Width and height in pixels of the [`grid`] of `count` images of `side`
/// pixels in rows of `columns`.
pub fn grid_size(count: usize, side: usize, columns: usize) -> (usize, usize) {
    let extent = |n: usize| n * side + (n + 1) * GRID_GAP;
    (extent(columns), extent(count.div_ceil(columns)))
}

/// Columns of the squarest grid for `count` images.
pub fn square_columns(count: usize) -> usize {
    (count as f64).sqrt().ceil().max(1.0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_cover_the_range_and_clamp() {
        assert_eq!(to_pixels(&[-1.0, 0.0, 1.0, -3.0, 2.0]), vec![0, 128, 255, 0, 255]);
    }

    #[test]
    fn grid_places_each_tile() {
        // Three 2x2 images of levels 10, 20, 30 in two columns.
        let pixels: Vec<u8> = [10u8, 20, 30].iter().flat_map(|&v| [v; 4]).collect();
        let g = grid(&pixels, 2, 2);
        assert_eq!((g.width, g.height), (2 * 2 + 3 * GRID_GAP, 2 * 2 + 3 * GRID_GAP));
        let at = |x: usize, y: usize| g.pixels[y * g.width + x];
        assert_eq!(at(GRID_GAP, GRID_GAP), 10);
        assert_eq!(at(2 * GRID_GAP + 2 + 1, GRID_GAP + 1), 20);
        assert_eq!(at(GRID_GAP, 2 * GRID_GAP + 2), 30);
        assert_eq!(at(0, 0), GRID_GAP_LEVEL);
        // The missing fourth tile stays background.
        assert_eq!(at(2 * GRID_GAP + 2, 2 * GRID_GAP + 2), GRID_GAP_LEVEL);
        assert_eq!(square_columns(64), 8);
        assert_eq!(square_columns(10), 4);
    }
}
