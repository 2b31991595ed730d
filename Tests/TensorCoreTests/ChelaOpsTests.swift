import Foundation
import Testing
@testable import TensorCore

/// CHELA's ops (SiLU, the short and the FFT long causal convolutions, kernel merging, chunked
/// causal linear attention) against plain Double loops, on ragged sizes.
///
/// Three kinds of check per op:
/// - the forward against a Double reference, within a tolerance stated per test. Sums are
///   judged against their magnitude mag = Σ|terms| (|Δ| ≤ rtol·mag): float32 rounding of a sum
///   scales with it, not with the (possibly cancelled) result;
/// - `gradCheck` in float32 (eps 1e-2, as GradientTests);
/// - the "Float64 finite-difference check": the op's analytic float32 backward against central
///   differences (h = 1e-6) of the Double reference forward, at a tight tolerance.
/// B = batch, L = length, D = channels, K = kernel length.

// MARK: - Helpers

private func normal(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.randn(shape, std: std, rng: &rng)
}

private func uniform(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, rng: &rng)
}

/// Multiples of 1/4 in [−1, 1]: short sums of products are exact in float32.
private func grid(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor((0..<shape.reduce(1, *)).map { _ in Float(rng.nextInt(below: 9) - 4) / 4 }, shape: shape)
}

private func doubles(_ t: Tensor) -> [Double] { t.toArray().map(Double.init) }

private func expectClose(_ actual: Tensor, _ expected: [Double], atol: Double, rtol: Double, _ label: String,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    let c = closeness(actual.toArray(), expected, atol: atol, rtol: rtol)
    #expect(c.ok, "\(label): \(c)", sourceLocation: sourceLocation)
}

/// |actual − expected| ≤ rtol·mag element-wise; reports the worst ratio |Δ|/mag.
private func expectWithinMagnitude(_ actual: Tensor, _ expected: [Double], mag: [Double], rtol: Double, _ label: String,
                                   sourceLocation: SourceLocation = #_sourceLocation) {
    let a = actual.toArray()
    #expect(a.count == expected.count, "\(label): \(a.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
    var worst = 0.0, worstIndex = 0, failures = 0
    for i in 0..<Swift.min(a.count, expected.count) {
        let err = abs(Double(a[i]) - expected[i])
        let bound = rtol * mag[i] + Double(Float.leastNormalMagnitude)
        if !(err <= bound) { failures += 1 }
        let ratio = mag[i] > 0 ? err / mag[i] : (err > 0 ? .infinity : 0)
        if !(ratio <= worst) { worst = ratio; worstIndex = i }
    }
    #expect(failures == 0, "\(label): \(failures) of \(a.count) beyond \(rtol)·mag; worst |Δ|/mag \(worst) at \(worstIndex)",
            sourceLocation: sourceLocation)
}

private func expectGrad(_ inputs: [Tensor], eps: Float = 1e-2, atol: Double = 1e-3, rtol: Double = 1e-2,
                        _ label: String, _ f: @escaping ([Tensor]) -> Tensor, sourceLocation: SourceLocation = #_sourceLocation) {
    let r = gradCheck(inputs, eps: eps, atol: atol, rtol: rtol, f)
    #expect(r.ok, "\(label):\n\(r)", sourceLocation: sourceLocation)
}

/// The op's backward (float32) against central differences of its Double forward `reference`:
/// with fixed random weights r, ∂/∂x_j Σ_i r_i·f(x)_i by (F(x + h·e_j) − F(x − h·e_j))/2h in
/// Double (truncation and rounding ≈ 1e-10 at h = 1e-6), so what remains is the float32
/// rounding of the analytic gradient.
private func expectGradMatchesDouble(_ inputs: [Tensor], atol: Double, rtol: Double, h: Double = 1e-6, _ label: String,
                                     op: ([Tensor]) -> Tensor, reference: ([[Double]]) -> [Double],
                                     sourceLocation: SourceLocation = #_sourceLocation) {
    for x in inputs { x.requiresGrad = true; x.zeroGrad() }
    let out = op(inputs)
    var rng = RNG(seed: 99)
    let r = (0..<out.count).map { _ in rng.nextFloat() * 2 - 1 }
    out.backward(seed: r)
    var xs = inputs.map(doubles)
    func loss() -> Double { zip(reference(xs), r).reduce(0) { $0 + $1.0 * Double($1.1) } }
    for (i, x) in inputs.enumerated() {
        var numeric = [Double](repeating: 0, count: x.count)
        for j in 0..<x.count {
            let saved = xs[i][j]
            xs[i][j] = saved + h; let up = loss()
            xs[i][j] = saved - h; let down = loss()
            xs[i][j] = saved
            numeric[j] = (up - down) / (2 * h)
        }
        let c = closeness(x.grad?.toArray() ?? [Float](repeating: 0, count: x.count), numeric, atol: atol, rtol: rtol)
        #expect(c.ok, "\(label) input \(i): \(c)", sourceLocation: sourceLocation)
    }
}

// MARK: - SiLU

@Suite struct SiLUTests {
    private static func silu(_ x: Double) -> Double { x / (1 + Foundation.exp(-x)) }
    private static func siluGrad(_ x: Double) -> Double {
        let s = 1 / (1 + Foundation.exp(-x))
        return s * (1 + x * (1 - s))
    }

    /// 1, a partial vector, and enough to split over threads at a non-multiple of 8.
    /// σ is 1/(1 + exp8(−x)) (exp8: ≤ 2 ulp), so x·σ is within a few ulp: rtol 5e-7 (measured 1.6e-7).
    @Test(arguments: [1, 7, 37, 40_003])
    func matchesDouble(_ n: Int) {
        let x = uniform([n], seed: 3000, low: -20, high: 20)
        expectClose(x.silu(), doubles(x).map(Self.silu), atol: 1e-30, rtol: 5e-7, "silu n=\(n)")
    }

    /// Large |x| gives no NaN or inf: σ rounds to 0 below ≈ −88.7 (then silu = 0, the limit; the
    /// true value is below 89·e^{−88.7} ≈ 3e-37 in magnitude: atol 1e-36) and to 1 above 17.
    @Test func extremes() {
        let xs: [Float] = [100, -100, 88.8, -88.8, 87, -87, 30, -30, 17, -17, 1e-30, -1e-30, 0,
                           Float.greatestFiniteMagnitude, -Float.greatestFiniteMagnitude]
        let y = Tensor(xs, shape: [xs.count]).silu()
        expectClose(y, xs.map { Self.silu(Double($0)) }, atol: 1e-36, rtol: 5e-7, "silu extremes")
        let special = Tensor([.infinity, -.infinity, .nan], shape: [3]).silu().toArray()
        #expect(special[0] == .infinity && special[1] == 0 && special[2].isNaN, "silu(inf, -inf, nan) = \(special)")
    }

    /// The backward rule at the same extremes and on a dense grid: finite, and the derivative
    /// σ(1 + x(1 − σ)) within 5e-7 (absolute; it lies in [−0.1, 1.1]; measured 1.5e-7) of the Double one.
    @Test func derivativeIsFiniteAndAccurate() {
        var xs: [Float] = (0...4000).map { -20 + Float($0) * 0.01 }
        xs += [100, -100, 88.8, -88.8, 87, -87, 1e-30, 0, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        let x = Tensor(xs, shape: [xs.count], requiresGrad: true)
        x.silu().sum().backward()
        let g = x.grad!.toArray()
        let allFinite = g.allSatisfy { $0.isFinite }
        #expect(allFinite, "non-finite silu′ at \(xs.indices.filter { !g[$0].isFinite }.map { xs[$0] })")
        expectClose(x.grad!, xs.map { Self.siluGrad(Double($0)) }, atol: 5e-7, rtol: 0, "silu′")
        let inf = Tensor([.infinity, -.infinity], shape: [2], requiresGrad: true)
        inf.silu().sum().backward()
        #expect(inf.grad!.toArray() == [1, 0], "silu′(inf, -inf) = \(inf.grad!.toArray()), expected the limits 1, 0")
    }

    @Test func gradientMatchesDoubleDifferences() {
        let x = uniform([3, 11], seed: 3001, low: -6, high: 6)
        expectGradMatchesDouble([x], atol: 1e-6, rtol: 1e-6, "silu", op: { $0[0].silu() },
                                reference: { $0[0].map(Self.silu) })
        // And in float32, on the ragged 8-lane body plus tail.
        expectGrad([uniform([37], seed: 3002, low: -5, high: 5)], "silu float32") { $0[0].silu() }
    }
}
