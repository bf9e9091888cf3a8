//! MNIST in its original IDX format: decoding from bytes (gzip or raw) with
//! errors that say what is wrong, and conversion to the `[-1, 1]` tensors the
//! models train on. No I/O: the trainer reads files, the browser fetches.

use std::io::Read;

use burn::prelude::*;
use flate2::read::GzDecoder;
use image::{GrayImage, imageops};

/// IDX magic of an unsigned-byte, 3-dimensional file (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// IDX magic of an unsigned-byte, 1-dimensional file (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Side of an MNIST image in pixels.
pub const SIDE: usize = 28;
/// A decompressed file larger than this is refused before it fills memory
/// (the training images are 47 MB).
const MAX_DECODED_BYTES: u64 = 64 << 20;

/// The two halves of MNIST and the names of their original files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    pub fn images_file(self) -> &'static str {
        match self {
            Split::Train => "train-images-idx3-ubyte.gz",
            Split::Test => "t10k-images-idx3-ubyte.gz",
        }
    }

    pub fn labels_file(self) -> &'static str {
        match self {
            Split::Train => "train-labels-idx1-ubyte.gz",
            Split::Test => "t10k-labels-idx1-ubyte.gz",
        }
    }

    /// Number of examples in the original distribution.
    pub fn count(self) -> usize {
        match self {
            Split::Train => 60_000,
            Split::Test => 10_000,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MnistError {
    #[error("{file}: not a valid gzip stream ({reason})")]
    Gzip { file: String, reason: String },
    #[error("{file}: decompresses to more than {limit} bytes; not an MNIST file")]
    TooLarge { file: String, limit: u64 },
    #[error("{file}: {found} bytes, too short for the {expected}-byte IDX header")]
    ShortHeader { file: String, expected: usize, found: usize },
    #[error("{file}: wrong IDX magic 0x{found:08x}, expected 0x{expected:08x} ({what})")]
    Magic { file: String, expected: u32, found: u32, what: &'static str },
    #[error("{file}: images are {rows}x{cols} pixels, expected {SIDE}x{SIDE}")]
    ImageSize { file: String, rows: usize, cols: usize },
    #[error("{file}: header announces {count} items ({expected} data bytes) but the file holds {found} data bytes")]
    Length { file: String, count: usize, expected: usize, found: usize },
    #[error("{file}: holds {found} items, expected {expected} for this split")]
    Count { file: String, expected: usize, found: usize },
    #[error("{file}: label {label} at index {index} is not a digit 0-9")]
    Label { file: String, index: usize, label: u8 },
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    Mismatch { images: String, n_images: usize, labels: String, n_labels: usize },
}

/// Decoded grayscale images, row-major, one byte per pixel.
#[derive(Clone, Debug, PartialEq)]
pub struct Images {
    pub count: usize,
    pub pixels: Vec<u8>,
}

/// Images with their labels, e.g. one split of MNIST.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub images: Images,
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Decodes a split from the bytes of its two files and checks that it has
    /// the size of the original distribution.
    pub fn decode_split(split: Split, images: &[u8], labels: &[u8]) -> Result<Self, MnistError> {
        let dataset = Self::decode(split.images_file(), images, split.labels_file(), labels)?;
        if dataset.images.count != split.count() {
            return Err(MnistError::Count {
                file: split.images_file().into(),
                expected: split.count(),
                found: dataset.images.count,
            });
        }
        Ok(dataset)
    }

    /// Decodes an images file and a labels file that belong together.
    pub fn decode(images_name: &str, images: &[u8], labels_name: &str, labels: &[u8]) -> Result<Self, MnistError> {
        let images_decoded = decode_images(images_name, images)?;
        let labels_decoded = decode_labels(labels_name, labels)?;
        if images_decoded.count != labels_decoded.len() {
            return Err(MnistError::Mismatch {
                images: images_name.into(),
                n_images: images_decoded.count,
                labels: labels_name.into(),
                n_labels: labels_decoded.len(),
            });
        }
        Ok(Self { images: images_decoded, labels: labels_decoded })
    }
}

/// Gunzips `bytes` when they start with the gzip magic, else returns them as is.
fn maybe_gunzip<'a>(file: &str, bytes: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, MnistError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.into());
    }
    let mut out = Vec::new();
    GzDecoder::new(bytes)
        .take(MAX_DECODED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| MnistError::Gzip { file: file.into(), reason: e.to_string() })?;
    if out.len() as u64 > MAX_DECODED_BYTES {
        return Err(MnistError::TooLarge { file: file.into(), limit: MAX_DECODED_BYTES });
    }
    Ok(out.into())
}

/// Checks an IDX file's magic and header, whose item shape (the sizes after
/// the count) must be `item_shape`, and returns the item count and the data,
/// whose length must match exactly.
fn parse_idx<'a>(
    file: &str,
    bytes: &'a [u8],
    magic: u32,
    what: &'static str,
    item_shape: &[usize],
) -> Result<(usize, &'a [u8]), MnistError> {
    let header = 4 * (2 + item_shape.len());
    if bytes.len() < header.min(8) {
        return Err(MnistError::ShortHeader { file: file.into(), expected: header, found: bytes.len() });
    }
    let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap()) as usize;
    if word(0) as u32 != magic {
        return Err(MnistError::Magic { file: file.into(), expected: magic, found: word(0) as u32, what });
    }
    if bytes.len() < header {
        return Err(MnistError::ShortHeader { file: file.into(), expected: header, found: bytes.len() });
    }
    let shape: Vec<usize> = (0..item_shape.len()).map(|i| word(2 + i)).collect();
    if shape != item_shape {
        return Err(MnistError::ImageSize { file: file.into(), rows: shape[0], cols: shape[1] });
    }
    let count = word(1);
    let data = &bytes[header..];
    // Checked: on wasm32 a count near 2^32 times 784 overflows usize.
    let expected = count.saturating_mul(item_shape.iter().product::<usize>());
    if data.len() != expected {
        return Err(MnistError::Length { file: file.into(), count, expected, found: data.len() });
    }
    Ok((count, data))
}

/// Decodes an IDX images file (gzip or raw) of 28x28 images.
pub fn decode_images(file: &str, bytes: &[u8]) -> Result<Images, MnistError> {
    let raw = maybe_gunzip(file, bytes)?;
    let (count, data) = parse_idx(file, &raw, IMAGES_MAGIC, "unsigned-byte 3-D images", &[SIDE, SIDE])?;
    Ok(Images { count, pixels: data.to_vec() })
}

/// Decodes an IDX labels file (gzip or raw); every label must be a digit.
pub fn decode_labels(file: &str, bytes: &[u8]) -> Result<Vec<u8>, MnistError> {
    let raw = maybe_gunzip(file, bytes)?;
    let (_, data) = parse_idx(file, &raw, LABELS_MAGIC, "unsigned-byte 1-D labels", &[])?;
    if let Some((index, &label)) = data.iter().enumerate().find(|(_, l)| **l > 9) {
        return Err(MnistError::Label { file: file.into(), index, label });
    }
    Ok(data.to_vec())
}

impl Images {
    /// One image's pixels.
    pub fn image(&self, index: usize) -> &[u8] {
        &self.pixels[index * SIDE * SIDE..(index + 1) * SIDE * SIDE]
    }

    /// The first `count` images (all if there are fewer).
    pub fn take(&self, count: usize) -> Images {
        let count = count.min(self.count);
        Images { count, pixels: self.pixels[..count * SIDE * SIDE].to_vec() }
    }

    /// All images at `side` x `side` pixels, still 8-bit and on the host.
    ///
    /// At 32 px (the conv model) each image is resized bilinearly with
    /// half-pixel centres and rounded back to 8 bits, as torchvision's
    /// `Resize(32)` does on the PIL images the post feeds it.
    pub fn at_side(&self, side: usize) -> SizedImages {
        let pixels = if side == SIDE {
            self.pixels.clone()
        } else {
            let mut out = Vec::with_capacity(self.count * side * side);
            for i in 0..self.count {
                let img = GrayImage::from_raw(SIDE as u32, SIDE as u32, self.image(i).to_vec())
                    .expect("an MNIST image has SIDE*SIDE pixels");
                out.extend(imageops::resize(&img, side as u32, side as u32, imageops::FilterType::Triangle).as_raw());
            }
            out
        };
        SizedImages { side, count: self.count, pixels }
    }

    /// All images at `side` x `side` pixels, scaled to `[-1, 1]` the way the
    /// post's `ToTensor` + `Normalize((0.5,), (0.5,))` does.
    pub fn normalized(&self, side: usize) -> Vec<f32> {
        self.at_side(side).pixels.iter().map(|&p| to_unit_range(p)).collect()
    }

    /// All images as one `[count, 1, side, side]` tensor in `[-1, 1]` on
    /// `device`: for small sets. Training cuts batches from [`Self::at_side`].
    pub fn to_tensor(&self, side: usize, device: &Device) -> Tensor<4> {
        let data = TensorData::new(self.normalized(side), [self.count, 1, side, side]);
        Tensor::from_data(data, device)
    }
}

/// Images at one size, 8-bit on the host, from which training batches are
/// cut and sent to the device one at a time. All of MNIST as one f32 tensor
/// on the device would be 188 MB (245 MB at 32x32): more than one buffer may
/// hold on some GPUs, and more than WebGPU's default 128 MiB binding.
#[derive(Clone, Debug, PartialEq)]
pub struct SizedImages {
    pub side: usize,
    pub count: usize,
    pixels: Vec<u8>,
}

impl SizedImages {
    /// The 8-bit pixels, image after image.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The images `indices` as a `[indices.len(), 1, side, side]` tensor in
    /// `[-1, 1]` on `device`.
    pub fn rows(&self, indices: &[u32], device: &Device) -> Tensor<4> {
        let area = self.side * self.side;
        let values: Vec<f32> = indices
            .iter()
            .flat_map(|&i| &self.pixels[i as usize * area..(i as usize + 1) * area])
            .map(|&p| to_unit_range(p))
            .collect();
        Tensor::from_data(TensorData::new(values, [indices.len(), 1, self.side, self.side]), device)
    }
}

fn to_unit_range(p: u8) -> f32 {
    p as f32 / 127.5 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw IDX images file with `count` images whose pixels are their index.
    fn idx_images(count: u32) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [IMAGES_MAGIC, count, 28, 28] {
            v.extend(w.to_be_bytes());
        }
        for i in 0..count {
            v.extend(std::iter::repeat_n(i as u8, SIDE * SIDE));
        }
        v
    }

    fn idx_labels(labels: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [LABELS_MAGIC, labels.len() as u32] {
            v.extend(w.to_be_bytes());
        }
        v.extend(labels);
        v
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn decodes_raw_and_gzip_alike() {
        let raw = idx_images(3);
        let a = decode_images("a", &raw).unwrap();
        let b = decode_images("b", &gzip(&raw)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.count, 3);
        assert_eq!(a.image(2)[0], 2);
    }

    #[test]
    fn wrong_magic_is_named() {
        let mut raw = idx_images(1);
        raw[3] = 0x01;
        let err = decode_images("x.idx", &raw).unwrap_err();
        assert!(matches!(err, MnistError::Magic { found: 0x801, expected: 0x803, .. }), "{err}");
        assert!(err.to_string().contains("x.idx"));
        // A labels file handed in as images is caught by the same check.
        assert!(matches!(decode_images("l", &idx_labels(&[1])), Err(MnistError::Magic { .. })));
    }

    #[test]
    fn truncated_and_overlong_files_are_refused() {
        let raw = idx_images(2);
        let err = decode_images("t", &raw[..raw.len() - 1]).unwrap_err();
        assert_eq!(err, MnistError::Length { file: "t".into(), count: 2, expected: 2 * 784, found: 2 * 784 - 1 });
        let mut long = raw.clone();
        long.push(0);
        assert!(matches!(decode_images("t", &long), Err(MnistError::Length { .. })));
        assert!(matches!(decode_images("t", &raw[..10]), Err(MnistError::ShortHeader { .. })));
        let gz = gzip(&raw);
        assert!(matches!(decode_images("t", &gz[..gz.len() / 2]), Err(MnistError::Gzip { .. })));
    }

    #[test]
    fn labels_must_be_digits_and_match_the_images() {
        assert!(matches!(
            decode_labels("l", &idx_labels(&[1, 10])),
            Err(MnistError::Label { index: 1, label: 10, .. })
        ));
        let err = Dataset::decode("i", &idx_images(2), "l", &idx_labels(&[1])).unwrap_err();
        assert!(matches!(err, MnistError::Mismatch { n_images: 2, n_labels: 1, .. }));
        let err = Dataset::decode_split(Split::Test, &idx_images(2), &idx_labels(&[1, 2])).unwrap_err();
        assert!(matches!(err, MnistError::Count { expected: 10_000, found: 2, .. }));
    }

    #[test]
    fn wrong_image_size_is_refused() {
        let mut raw = idx_images(1);
        raw[11] = 32; // rows
        let err = decode_images("s", &raw).unwrap_err();
        assert!(matches!(err, MnistError::ImageSize { rows: 32, cols: 28, .. }), "{err}");
    }

    #[test]
    fn normalisation_maps_bytes_to_unit_range() {
        let images = Images { count: 1, pixels: (0..784).map(|i| (i % 256) as u8).collect() };
        let v = images.normalized(28);
        assert_eq!(v[0], -1.0);
        assert_eq!(v[255], 1.0);
        assert!((v[128] - (128.0 / 127.5 - 1.0)).abs() < 1e-7);
        // A constant image stays constant at any size; corners keep their values.
        let flat = Images { count: 1, pixels: vec![200; 784] };
        assert!(flat.normalized(32).iter().all(|&x| (x - to_unit_range(200)).abs() < 1e-6));
        let v32 = images.normalized(32);
        assert_eq!(v32.len(), 32 * 32);
        assert_eq!(v32[0], -1.0, "top-left corner keeps its value");
    }

    #[test]
    fn rows_are_the_normalised_images_picked() {
        let images = Images { count: 3, pixels: (0..3 * 784).map(|i| (i / 784 * 100) as u8).collect() };
        let device = Device::flex();
        let all = images.normalized(32);
        let picked = images.at_side(32).rows(&[2, 0, 2], &device);
        assert_eq!(picked.dims(), [3, 1, 32, 32]);
        let v = picked.into_data().try_to_vec::<f32>().unwrap();
        let area = 32 * 32;
        assert_eq!(&v[..area], &all[2 * area..]);
        assert_eq!(&v[area..2 * area], &all[..area]);
        assert_eq!(&v[2 * area..], &all[2 * area..]);
    }
}
