//! The loss chart's data: D's and G's loss at every step, and the curves
//! that fit them in a box.

/// D's and G's loss at every step, and how to draw them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LossChart {
    pub d: Vec<f32>,
    pub g: Vec<f32>,
}

/// Two polylines in canvas coordinates (y down), and the loss at the top edge.
#[derive(Clone, Debug, PartialEq)]
pub struct Plot {
    pub d: Vec<(f64, f64)>,
    pub g: Vec<(f64, f64)>,
    pub y_max: f64,
}

impl LossChart {
    pub fn push(&mut self, d: f32, g: f32) {
        self.d.push(d);
        self.g.push(g);
    }

    pub fn len(&self) -> usize {
        self.d.len()
    }

    pub fn is_empty(&self) -> bool {
        self.d.is_empty()
    }

    /// The curves in a `width` x `height` box whose x axis spans `total`
    /// steps: at most one point per pixel column (the mean of the steps that
    /// fall in it), and a y range from 0 to the largest point rounded up to
    /// a half, so the scale moves rarely.
    pub fn plot(&self, total: usize, width: f64, height: f64) -> Plot {
        let total = total.max(self.len()).max(1);
        let columns = (width.floor() as usize).max(1);
        let per_point = total.div_ceil(columns).max(1);
        let means = |values: &[f32]| -> Vec<(f64, f64)> {
            values
                .chunks(per_point)
                .enumerate()
                .map(|(i, chunk)| {
                    let mid = (i * per_point) as f64 + (chunk.len() as f64 - 1.0) / 2.0;
                    (mid, chunk.iter().map(|&v| v as f64).sum::<f64>() / chunk.len() as f64)
                })
                .collect()
        };
        let (d, g) = (means(&self.d), means(&self.g));
        let top = d.iter().chain(&g).map(|&(_, y)| y).fold(0.0, f64::max);
        let y_max = ((top * 2.0).ceil() / 2.0).max(0.5);
        let x_scale = if total > 1 { width / (total - 1) as f64 } else { 0.0 };
        let to_canvas = |points: Vec<(f64, f64)>| {
            points.into_iter().map(|(x, y)| (x * x_scale, height * (1.0 - y / y_max))).collect()
        };
        Plot { d: to_canvas(d), g: to_canvas(g), y_max }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_fits_its_box() {
        let mut chart = LossChart::default();
        let empty = chart.plot(100, 200.0, 100.0);
        assert!(empty.d.is_empty() && empty.y_max == 0.5);
        for i in 0..10 {
            chart.push(1.0, 0.2 * i as f32);
        }
        // 10 of 100 steps in 200 px: one point per step, x from 0 to 9/99 of the width.
        let plot = chart.plot(100, 200.0, 100.0);
        assert_eq!(plot.y_max, 2.0, "the top rounds 1.8 up to 2");
        assert_eq!(plot.d.len(), 10);
        assert_eq!(plot.d[0], (0.0, 50.0));
        assert!((plot.g[9].0 - 9.0 * 200.0 / 99.0).abs() < 1e-9);
        assert!((plot.g[9].1 - 100.0 * (1.0 - 1.8 / 2.0)).abs() < 1e-4);
        // More steps than pixels: means of equal buckets, one per column.
        let mut long = LossChart::default();
        for i in 0..1000 {
            long.push(if i % 2 == 0 { 1.0 } else { 3.0 }, 1.0);
        }
        let plot = long.plot(1000, 100.0, 50.0);
        assert_eq!(plot.d.len(), 100);
        assert!(
            plot.d.iter().all(|&(_, y)| (y - 50.0 * (1.0 - 2.0 / 2.0)).abs() < 1e-9),
            "alternating 1 and 3 average to 2"
        );
        // Each point sits at the middle of its 10 steps.
        assert!((plot.d[0].0 - 4.5 * 100.0 / 999.0).abs() < 1e-9);
        assert!((plot.d[99].0 - 994.5 * 100.0 / 999.0).abs() < 1e-9);
    }
}
