/// Ops composed from the primitives: they own no backward rule of their own.

/// Scaled dot-product attention on (B, H, T, D) tensors, composed from matmul, a constant
/// −∞ mask and softmax. The readable reference for the fused `causalSelfAttention`.
public func attention(q: Tensor, k: Tensor, v: Tensor, causal: Bool) -> Tensor {
    let t = q.shape[q.rank - 2], s = k.shape[k.rank - 2], d = q.shape[q.rank - 1]
    var scores = matmul(q, k, transposeB: true) * (1 / Float(d).squareRoot())   // (B, H, T, S)
    if causal {
        // Query i sits at key position i + (S − T), so a cached prefix stays visible.
        var mask = [Float](repeating: 0, count: t * s)
        for i in 0..<t { for j in 0..<s where j > i + (s - t) { mask[i * s + j] = -.infinity } }
        scores = scores + Tensor(mask, shape: [t, s])
    }
    return matmul(scores.softmax(), v)   // (B, H, T, D)
}

/// Inverted dropout: zero each element with probability p and scale the rest by 1/(1−p).
/// The identity when p = 0 or when not training (and then it draws no random numbers).
public func dropout(_ x: Tensor, p: Float, training: Bool, rng: inout RNG) -> Tensor {
    guard training && p > 0 else { return x }
    precondition(p < 1, "dropout probability must be < 1")
    let keep = 1 / (1 - p)
    var mask = [Float](repeating: 0, count: x.count)
    for i in 0..<x.count { mask[i] = rng.nextFloat() >= p ? keep : 0 }
    return x * Tensor(mask, shape: x.shape)
}

extension Tensor {
    /// Running mean along `axis`: out_t = (1/(t+1))·Σ_{s≤t} x_s. Causal by construction.
    public func cumulativeMean(axis: Int) -> Tensor {
        let ax = normalize(axis: axis, rank: rank)
        let n = shape[ax]
        var countsShape = [Int](repeating: 1, count: rank)
        countsShape[ax] = n
        let inverseCounts = Tensor((0..<n).map { 1 / Float($0 + 1) }, shape: countsShape)
        return cumsum(axis: ax) * inverseCounts
    }

    /// Variance over `axis` (biased, as layer norm uses).
    public func variance(axis: Int, keepDims: Bool = false) -> Tensor {
        let centred = self - mean(axis: axis, keepDims: true)
        return centred.square().mean(axis: axis, keepDims: keepDims)
    }
}
