//! The IDX decoder on the real MNIST files and on corrupted copies of them.

mod common;

use shared::mnist::{Dataset, MnistError, Split, decode_images, decode_labels};

#[test]
fn real_files_decode_with_their_known_contents() {
    for split in [Split::Train, Split::Test] {
        let (images, labels) = common::read(split);
        let data = Dataset::decode_split(split, &images, &labels).unwrap();
        assert_eq!(data.images.count, split.count());
        assert_eq!(data.labels.len(), split.count());
        assert_eq!(data.images.pixels.len(), split.count() * 784);
        let mut histogram = [0usize; 10];
        data.labels.iter().for_each(|&l| histogram[l as usize] += 1);
        // Every digit is well represented (MNIST has 5421..6742 of each in train).
        assert!(histogram.iter().all(|&c| c > split.count() / 12), "{histogram:?}");
    }
    // Well-known first labels: a 5 opens the training set, a 7 the test set.
    let (_, train_labels) = common::read(Split::Train);
    assert_eq!(decode_labels("train", &train_labels).unwrap()[..3], [5, 0, 4]);
    let test = common::test_set();
    assert_eq!(test.labels[..3], [7, 2, 1]);
    // Pixels are ink on black: corners are empty, the centre is not.
    let first = test.images.image(0);
    assert_eq!(first[0], 0);
    assert!(first.iter().filter(|&&p| p > 128).count() > 50);
}

#[test]
fn corrupted_copies_are_refused_with_the_reason() {
    let (images, labels) = common::read(Split::Test);

    let truncated = &images[..images.len() - 1000];
    let err = decode_images("t10k-images", truncated).unwrap_err();
    assert!(matches!(err, MnistError::Gzip { .. }), "{err}");
    assert!(err.to_string().contains("t10k-images"));

    let raw = {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&images[..]).read_to_end(&mut out).unwrap();
        out
    };
    let mut bad_magic = raw.clone();
    bad_magic[2] = 0x09;
    assert!(matches!(decode_images("x", &bad_magic), Err(MnistError::Magic { .. })));

    let err = decode_images("x", &raw[..raw.len() - 784]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "x: header announces 10000 items (7840000 data bytes) but the file holds 7839216 data bytes"
    );

    let err = Dataset::decode_split(Split::Train, &images, &labels).unwrap_err();
    assert!(matches!(err, MnistError::Count { expected: 60_000, found: 10_000, .. }), "{err}");

    // Images and labels swapped.
    assert!(matches!(decode_images("labels", &labels), Err(MnistError::Magic { .. })));
}
