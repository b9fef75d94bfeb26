//! A tiny deterministic random source for the paper benchmarks: xorshift64* plus Box–Muller.
//!
//! The figures must be identical on every run and platform, so the generator is fixed here
//! (no RNG crate, no OS entropy); the Gaussian uses only `ln`, `sqrt`, `cos` of `f64`.

/// xorshift64* (Vigna 2016): period 2⁶⁴ − 1, good enough for synthetic scores.
#[derive(Clone, Debug)]
pub struct XorShift {
    state: u64,
    /// The second Box–Muller value, returned by the next `gaussian` call.
    spare: Option<f64>,
}

impl XorShift {
    /// A generator from `seed` (0 is replaced, the all-zero state is a fixed point).
    pub fn new(seed: u64) -> XorShift {
        XorShift {
            state: if seed == 0 {
                0x9e37_79b9_7f4a_7c15
            } else {
                seed
            },
            spare: None,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in the open interval (0, 1): 53 random bits, never 0.
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller, both values used).
    pub fn gaussian(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let (u, v) = (self.uniform(), self.uniform());
        let r = (-2.0 * u.ln()).sqrt();
        let t = std::f64::consts::TAU * v;
        self.spare = Some(r * t.sin());
        r * t.cos()
    }

    /// `n` standard normal values as `f32`.
    pub fn gaussians(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.gaussian() as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_roughly_standard_normal() {
        let (mut a, mut b) = (XorShift::new(7), XorShift::new(7));
        assert_eq!(a.next_u64(), b.next_u64());
        let z: Vec<f64> = (0..20_000).map(|_| a.gaussian()).collect();
        let mean = z.iter().sum::<f64>() / z.len() as f64;
        let var = z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / z.len() as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
    }
}
