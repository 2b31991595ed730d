import TensorCore

// Seeded test tensors every suite of this target draws from.

func normal(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.randn(shape, std: std, rng: &rng)
}

func uniform(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, rng: &rng)
}

/// Multiples of 1/4 in [−1, 1]: many exact ties, and short sums of products stay exact in float32.
func grid(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor((0..<shape.reduce(1, *)).map { _ in Float(rng.nextInt(below: 9) - 4) / 4 }, shape: shape)
}
