/// Optimizer inner loops over raw buffers, eight lanes at a time. Each element goes through
/// the same IEEE operations in the same order as the scalar form written beside it (SIMD sqrt
/// and division are exactly rounded; Swift does not contract a·b + c into an FMA), so the
/// vector body and the scalar tail agree bit for bit with PyTorch's single-tensor AdamW.

/// The scalars of one AdamW step (see `NN.AdamW.update`).
public struct AdamWStep: Sendable {
    /// 1 − lr·weight_decay, or nil for no decay.
    public var decay: Float?
    /// 1 − β1, β2, 1 − β2.
    public var w1: Float, beta2: Float, w2: Float
    /// lr / (1 − β1^t), √(1 − β2^t), ε.
    public var stepSize: Float, bc2Sqrt: Float, eps: Float

    public init(decay: Float?, w1: Float, beta2: Float, w2: Float, stepSize: Float, bc2Sqrt: Float, eps: Float) {
        self.decay = decay; self.w1 = w1; self.beta2 = beta2; self.w2 = w2
        self.stepSize = stepSize; self.bc2Sqrt = bc2Sqrt; self.eps = eps
    }

    /// One element, the definition the vector body follows:
    /// p ← p·decay; m ← lerp(m, g, 1 − β1); v ← v·β2 + (1 − β2)·g·g;
    /// p ← p − stepSize·m / (√v / √(1 − β2^t) + ε).
    @inline(__always)
    public func apply(_ p: inout Float, _ m: inout Float, _ v: inout Float, _ g: Float) {
        if let decay { p *= decay }
        // exp_avg.lerp_(grad, 1 − β1): PyTorch's lerp is a + w·(b − a) for w < 0.5, else b − (b − a)·(1 − w).
        m = w1 < 0.5 ? m + w1 * (g - m) : g - (g - m) * (1 - w1)
        v = v * beta2 + w2 * g * g
        let denom = v.squareRoot() / bc2Sqrt + eps
        p += -stepSize * (m / denom)
    }

    /// `apply` over n elements.
    public func apply(p: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
                      g: UnsafePointer<Float>, count n: Int) {
        let vw1 = F8(repeating: w1), vw1c = F8(repeating: 1 - w1), vb2 = F8(repeating: beta2), vw2 = F8(repeating: w2)
        let vbc2 = F8(repeating: bc2Sqrt), veps = F8(repeating: eps), vstep = F8(repeating: -stepSize)
        let vdecay = F8(repeating: decay ?? 1), lerpLow = w1 < 0.5, decays = decay != nil
        var i = 0
        while i + 8 <= n {
            var pv = load8(p + i), mv = load8(m + i), vv = load8(v + i)
            let gv = load8(g + i)
            if decays { pv *= vdecay }
            mv = lerpLow ? mv + vw1 * (gv - mv) : gv - (gv - mv) * vw1c
            vv = vv * vb2 + vw2 * gv * gv
            let denom = vv.squareRoot() / vbc2 + veps
            pv += vstep * (mv / denom)
            store8(pv, p + i); store8(mv, m + i); store8(vv, v + i)
            i += 8
        }
        while i < n { apply(&p[i], &m[i], &v[i], g[i]); i += 1 }
    }
}

/// Σ x[i]² in double, eight float lanes widened to two four-lane doubles per step.
public func sumOfSquaresDouble(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
    var a = SIMD4<Double>(), b = SIMD4<Double>()
    var i = 0
    while i + 8 <= n {
        let v = load8(x + i)
        let lo = SIMD4<Double>(v.lowHalf), hi = SIMD4<Double>(v.highHalf)
        a.addProduct(lo, lo); b.addProduct(hi, hi)
        i += 8
    }
    var s = (a + b).sum()
    while i < n { s += Double(x[i]) * Double(x[i]); i += 1 }
    return s
}

/// x[i] *= c.
public func scaleInPlace(_ x: UnsafeMutablePointer<Float>, _ n: Int, by c: Float) {
    let vc = F8(repeating: c)
    var i = 0
    while i + 8 <= n { store8(load8(x + i) * vc, x + i); i += 8 }
    while i < n { x[i] *= c; i += 1 }
}
