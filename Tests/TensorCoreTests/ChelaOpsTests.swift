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

// MARK: - Causal convolutions, Double references

/// y[b, t, d] = bias[d] + Σ_{j<K, j≤t} w[d, j]·x[b, t − j, d], and the magnitude Σ|terms|.
private func refCausalConv(_ x: [Double], b: Int, l: Int, d: Int, _ w: [Double], k: Int, bias: [Double]? = nil)
    -> (y: [Double], mag: [Double]) {
    var y = [Double](repeating: 0, count: b * l * d), mag = y
    for bi in 0..<b { for t in 0..<l { for c in 0..<d {
        var s = bias?[c] ?? 0, m = abs(s)
        for j in 0..<Swift.min(k, t + 1) {
            let term = w[c * k + j] * x[(bi * l + t - j) * d + c]
            s += term; m += abs(term)
        }
        y[(bi * l + t) * d + c] = s; mag[(bi * l + t) * d + c] = m
    } } }
    return (y, mag)
}

@Suite struct ShortConvTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let b, l, d, k: Int
        var testDescription: String { "B\(b) L\(l) D\(d) K\(k)" }
    }
    /// L = 1, 7, 63, 65, 200; K = 1, 3, 4, 7 and K > L; D = 1, 13 (tail lanes), 64.
    static let cases = [Case(b: 1, l: 1, d: 1, k: 3), Case(b: 2, l: 7, d: 13, k: 1), Case(b: 2, l: 7, d: 13, k: 10),
                        Case(b: 3, l: 63, d: 5, k: 4), Case(b: 1, l: 65, d: 64, k: 7), Case(b: 4, l: 200, d: 13, k: 3),
                        Case(b: 2, l: 200, d: 64, k: 5)]

    /// K + 1 terms per output: float32 rounding ≤ (K + 1)·2⁻²⁴·mag; rtol 1e-6 covers K ≤ 15
    /// (measured worst 1.7e-7·mag at K = 7).
    @Test(arguments: cases)
    func matchesDouble(_ c: Case) {
        let x = normal([c.b, c.l, c.d], seed: 3100), w = normal([c.d, c.k], seed: 3101), bias = normal([c.d], seed: 3102)
        let plain = refCausalConv(doubles(x), b: c.b, l: c.l, d: c.d, doubles(w), k: c.k)
        expectWithinMagnitude(causalShortConv(x, kernel: w), plain.y, mag: plain.mag, rtol: 1e-6, "no bias")
        let biased = refCausalConv(doubles(x), b: c.b, l: c.l, d: c.d, doubles(w), k: c.k, bias: doubles(bias))
        expectWithinMagnitude(causalShortConv(x, kernel: w, bias: bias), biased.y, mag: biased.mag, rtol: 1e-6, "bias")
        // Grid inputs: every sum is exact, so this checks the indexing alone.
        let xg = grid([c.b, c.l, c.d], seed: 3103), wg = grid([c.d, c.k], seed: 3104), bg = grid([c.d], seed: 3105)
        expectClose(causalShortConv(xg, kernel: wg, bias: bg),
                    refCausalConv(doubles(xg), b: c.b, l: c.l, d: c.d, doubles(wg), k: c.k, bias: doubles(bg)).y,
                    atol: 0, rtol: 0, "grid (exact)")
    }

    /// The orientation (PyTorch's order, the kernel reversed, is pinned in ForwardTests' conv suite).
    @Test func lagZeroIsTheCurrentStep() {
        let b = 2, l = 9, d = 5, k = 4
        let x = grid([b, l, d], seed: 3110)
        // Lag 0 only is the identity times w[:, 0].
        let lag0 = Tensor((0..<(d * k)).map { $0 % k == 0 ? 1 : 0 }, shape: [d, k])
        #expect(causalShortConv(x, kernel: lag0).toArray() == x.toArray())
    }

    @Test func isCausalBitForBit() {
        let b = 2, l = 40, d = 11, k = 5
        let x = normal([b, l, d], seed: 3120), w = normal([d, k], seed: 3121), bias = normal([d], seed: 3122)
        let y0 = causalShortConv(x, kernel: w, bias: bias).toArray()
        for cut in [0, 4, 5, 21, 38] {
            var changed = x.toArray()
            for bi in 0..<b { for t in (cut + 1)..<l { for c in 0..<d { changed[(bi * l + t) * d + c] = t % 2 == 0 ? .infinity : 7 } } }
            let y1 = causalShortConv(Tensor(changed, shape: x.shape), kernel: w, bias: bias).toArray()
            for bi in 0..<b {
                let lo = bi * l * d, hi = lo + (cut + 1) * d
                #expect(y0[lo..<hi].map(\.bitPattern) == y1[lo..<hi].map(\.bitPattern), "batch \(bi) cut \(cut)")
            }
        }
    }

    /// Bit-identical on 1, 2 and 3 threads (rows split for x and y, channels for the kernel).
    @Test func independentOfThreadCount() {
        let x = normal([3, 300, 20], seed: 3125), w = normal([20, 4], seed: 3126), bias = normal([20], seed: 3127)
        func run() -> [[Float]] {
            let inputs = [x, w, bias].map { $0.detached() }
            for t in inputs { t.requiresGrad = true }
            let y = causalShortConv(inputs[0], kernel: inputs[1], bias: inputs[2])
            y.backward(seed: uniform([3, 300, 20], seed: 3128).toArray())
            return [y.toArray()] + inputs.map { $0.grad!.toArray() }
        }
        let one = Parallel.withThreads(1, run), two = Parallel.withThreads(2, run), three = Parallel.withThreads(3, run)
        #expect(one == two && two == three)
    }

    @Test func gradients() {
        let x = uniform([2, 7, 3], seed: 3130), w = uniform([3, 4], seed: 3131), bias = uniform([3], seed: 3132)
        expectGrad([x, w, bias], "x, kernel, bias") { causalShortConv($0[0], kernel: $0[1], bias: $0[2]) }
        expectGrad([x, uniform([3, 9], seed: 3133)], "K > L") { causalShortConv($0[0], kernel: $0[1]) }
        // D = 19: eight-lane bodies, a tail, and the kernel gradient split over channels.
        expectGrad([uniform([2, 6, 19], seed: 3134), uniform([19, 3], seed: 3135), uniform([19], seed: 3136)], "D 19") {
            causalShortConv($0[0], kernel: $0[1], bias: $0[2])
        }
        let (b, l, d, k) = (2, 6, 9, 3)
        expectGradMatchesDouble([uniform([b, l, d], seed: 3137), uniform([d, k], seed: 3138), uniform([d], seed: 3139)],
                                atol: 1e-6, rtol: 1e-6, "short conv",
                                op: { causalShortConv($0[0], kernel: $0[1], bias: $0[2]) },
                                reference: { refCausalConv($0[0], b: b, l: l, d: d, $0[1], k: k, bias: $0[2]).y })
    }

    /// Only the input that asks for a gradient gets one, and it equals the one computed with all.
    @Test func partialGradientsAgree() {
        let x = uniform([2, 8, 10], seed: 3140), w = uniform([10, 3], seed: 3141), bias = uniform([10], seed: 3142)
        x.requiresGrad = true; w.requiresGrad = true; bias.requiresGrad = true
        let seed = uniform([2, 8, 10], seed: 3143).toArray()
        causalShortConv(x, kernel: w, bias: bias).backward(seed: seed)
        let all = [x.grad!.toArray(), w.grad!.toArray(), bias.grad!.toArray()]
        for (i, t) in [x, w, bias].enumerated() {
            let inputs = [x, w, bias].map { $0.detached() }
            inputs[i].requiresGrad = true
            causalShortConv(inputs[0], kernel: inputs[1], bias: inputs[2]).backward(seed: seed)
            #expect(inputs[i].grad!.toArray() == all[i], "input \(i) of shape \(t.shape)")
        }
    }
}

// MARK: - Kernel merging (structural reparameterisation)

@Suite struct MergeKernelTests {
    /// Parallel k = 3, 5, 7 branches summed equal one conv with the merged (D, 7) kernel; on grid
    /// inputs every sum is exact, so the two sides must agree bit for bit.
    @Test func mergedShortKernelsEqualSumOfBranches() {
        let b = 2, l = 30, d = 9
        let x = grid([b, l, d], seed: 3200)
        let branches = [3, 5, 7].enumerated().map { grid([d, $0.element], seed: 3201 + UInt64($0.offset)) }
        let merged = mergeCausalKernels(branches)
        #expect(merged.shape == [d, 7])
        let sum = branches.map { causalShortConv(x, kernel: $0) }.reduce(Tensor.zeros([b, l, d])) { $0 + $1 }
        #expect(causalShortConv(x, kernel: merged).toArray() == sum.toArray())
    }

    /// A long kernel with parallel short branches merges the same way (the lag convention is
    /// shared): one long conv with the merged kernel = long conv + short convs, to FFT accuracy.
    @Test func longKernelWithShortBranches() {
        let b = 2, l = 100, d = 6
        let x = normal([b, l, d], seed: 3210)
        let long = normal([d, l], seed: 3211, std: 0.1), k3 = normal([d, 3], seed: 3212), k5 = normal([d, 5], seed: 3213)
        let merged = mergeCausalKernels([long, k3, k5])
        let branches = causalLongConv(x, kernel: long) + causalShortConv(x, kernel: k3) + causalShortConv(x, kernel: k5)
        expectLongConvAccurate(causalLongConv(x, kernel: merged), x: x, kernel: merged, "merged long conv")
        expectLongConvAccurate(branches, x: x, kernel: merged, "sum of branches")
    }
}

// MARK: - FFT long convolution

/// `y` against the direct causal sum in Double of x (B, L, D) and kernel (D, K). The FFT's
/// rounding is normwise: over a row, |Δ_t| ≲ c·ε·log₂N·‖kernel_d‖₂·‖x_{b,d}‖₂, not relative to
/// each (possibly tiny) output. Asserted, per element: |Δ| ≤ 2·ε·log₂N·‖k_d‖‖x_{b,d}‖ with
/// ε = 2⁻²⁴ (measured worst 0.56·ε·log₂N·‖k‖‖x‖ at L = 1, ≤ 0.41 from L = 7, ≤ 0.12 from
/// L = 100; the worst ratio is printed on failure).
private func expectLongConvAccurate(_ y: Tensor, x: Tensor, kernel: Tensor, _ label: String,
                                    sourceLocation: SourceLocation = #_sourceLocation) {
    let b = x.shape[0], l = x.shape[1], d = x.shape[2], k = kernel.shape[1]
    let yv = y.toArray(), xv = doubles(x), kv = doubles(kernel)
    let ref = refCausalConv(xv, b: b, l: l, d: d, kv, k: k).y
    let log2n = log2(Double(RealFFT.goodLength(atLeast: 2 * l)))
    var worst = 0.0, failures = 0
    for bi in 0..<b { for ch in 0..<d {
        var kn = 0.0, xn = 0.0
        for s in 0..<k { kn += kv[ch * k + s] * kv[ch * k + s] }
        for t in 0..<l { xn += xv[(bi * l + t) * d + ch] * xv[(bi * l + t) * d + ch] }
        let normwise = 0x1p-24 * log2n * kn.squareRoot() * xn.squareRoot()
        for t in 0..<l {
            let i = (bi * l + t) * d + ch
            let err = abs(Double(yv[i]) - ref[i])
            if !(err <= 2 * normwise) { failures += 1 }
            if normwise > 0 { worst = Swift.max(worst, err / normwise) }
        }
    } }
    #expect(failures == 0, "\(label): \(failures) of \(yv.count) beyond the bound; worst |Δ| = \(worst) × ε·log₂N·‖k‖‖x‖",
            sourceLocation: sourceLocation)
}

@Suite struct LongConvTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let b, l, d, k: Int
        var testDescription: String { "B\(b) L\(l) D\(d) K\(k)" }
    }
    /// D = 16 and 17 on two threads gather eight channels at a time (8×8 transposes, with a
    /// ragged tail at L = 100); the others one to four.
    static let cases = [Case(b: 1, l: 1, d: 1, k: 1), Case(b: 2, l: 2, d: 3, k: 2), Case(b: 3, l: 7, d: 5, k: 7),
                        Case(b: 2, l: 7, d: 17, k: 3), Case(b: 2, l: 100, d: 9, k: 100), Case(b: 2, l: 100, d: 16, k: 100), Case(b: 1, l: 1000, d: 4, k: 1000),
                        Case(b: 2, l: 1000, d: 19, k: 37), Case(b: 1, l: 777, d: 3, k: 777)]

    /// FFT = the direct O(L²) sum in Double, to the normwise bound of `expectLongConvAccurate`,
    /// for K = L and for short kernels (K = 3, 37: the same outputs as `causalShortConv`).
    @Test(arguments: cases)
    func fftMatchesDirectSum(_ c: Case) {
        let x = normal([c.b, c.l, c.d], seed: 3300)
        // A decaying kernel, as trained long kernels are, plus noise: entries span ~6 decades.
        var rng = RNG(seed: 3301)
        let kv = (0..<(c.d * c.k)).map { i -> Float in Foundation.expf(-Float(i % c.k) / 50) * (rng.nextFloat() * 2 - 1) }
        let kernel = Tensor(kv, shape: [c.d, c.k])
        expectLongConvAccurate(causalLongConv(x, kernel: kernel), x: x, kernel: kernel, "\(c)")
    }

    @Test func isCausalBitForBit() {
        let b = 2, l = 50, d = 9
        let x = normal([b, l, d], seed: 3320), kernel = normal([d, l], seed: 3321)
        let y0 = causalLongConv(x, kernel: kernel).toArray()
        // Through FFTs every output depends on every input at rounding level, so the causal
        // property to hold here is the mathematical one: outputs ≤ cut change by rounding only.
        for cut in [0, 13, 48] {
            var changed = x.toArray()
            for bi in 0..<b { for t in (cut + 1)..<l { for c in 0..<d { changed[(bi * l + t) * d + c] += 1 } } }
            let y1 = causalLongConv(Tensor(changed, shape: x.shape), kernel: kernel).toArray()
            for bi in 0..<b {
                let lo = bi * l * d, hi = lo + (cut + 1) * d
                let c = closeness(Array(y1[lo..<hi]), Array(y0[lo..<hi]), atol: 2e-5, rtol: 0)
                #expect(c.ok, "batch \(bi) cut \(cut): \(c)")
            }
        }
    }

    /// Bit-identical on 1 and 2 threads (work is split over channels only).
    @Test func independentOfThreadCount() {
        let x = normal([3, 300, 20], seed: 3330), kernel = normal([20, 300], seed: 3331)
        func run() -> ([Float], [Float], [Float]) {
            let xi = x.detached(), ki = kernel.detached()
            xi.requiresGrad = true; ki.requiresGrad = true
            let y = causalLongConv(xi, kernel: ki)
            y.backward(seed: uniform([3, 300, 20], seed: 3332).toArray())
            return (y.toArray(), xi.grad!.toArray(), ki.grad!.toArray())
        }
        let one = Parallel.withThreads(1, run), two = Parallel.withThreads(2, run), three = Parallel.withThreads(3, run)
        #expect(one == two && two == three)
    }

    @Test func gradients() {
        expectGrad([uniform([2, 7, 3], seed: 3340), uniform([3, 7], seed: 3341)], "K = L") { causalLongConv($0[0], kernel: $0[1]) }
        expectGrad([uniform([2, 9, 4], seed: 3342), uniform([4, 5], seed: 3343)], "K < L") { causalLongConv($0[0], kernel: $0[1]) }
        expectGrad([uniform([1, 1, 2], seed: 3344), uniform([2, 1], seed: 3345)], "L = 1") { causalLongConv($0[0], kernel: $0[1]) }
        let (b, l, d) = (2, 10, 3)
        expectGradMatchesDouble([uniform([b, l, d], seed: 3346), uniform([d, l], seed: 3347)], atol: 1e-6, rtol: 1e-6,
                                "long conv", op: { causalLongConv($0[0], kernel: $0[1]) },
                                reference: { refCausalConv($0[0], b: b, l: l, d: d, $0[1], k: l).y })
    }

    /// Only the input that asks for a gradient gets one, and it equals the one computed with both.
    @Test func partialGradientsAgree() {
        let x = uniform([2, 30, 10], seed: 3350), kernel = uniform([10, 30], seed: 3351)
        let seed = uniform([2, 30, 10], seed: 3352).toArray()
        x.requiresGrad = true; kernel.requiresGrad = true
        causalLongConv(x, kernel: kernel).backward(seed: seed)
        for i in 0..<2 {
            let inputs = [x, kernel].map { $0.detached() }
            inputs[i].requiresGrad = true
            causalLongConv(inputs[0], kernel: inputs[1]).backward(seed: seed)
            #expect(inputs[i].grad!.toArray() == [x, kernel][i].grad!.toArray(), "input \(i)")
        }
    }

    /// A kernel longer than the sequence is a precondition failure (a trap with a message).
    @Test func kernelLongerThanSequenceTraps() async {
        await #expect(processExitsWith: .failure) {
            _ = causalLongConv(Tensor.zeros([1, 4, 2]), kernel: Tensor.zeros([2, 5]))
        }
    }
}

/// The padded length: the smallest even 2^a·3^b·5^c·7^d ≥ m.
@Test func fftLengthsHaveSmallFactors() {
    func reference(_ m: Int) -> Int {
        var n = m
        while true {
            var r = n
            for p in [2, 3, 5, 7] { while r % p == 0 { r /= p } }
            if r == 1 && n % 2 == 0 { return n }
            n += 1
        }
    }
    for m in Array(1...300) + [1999, 2000, 2001, 32_767, 32_768, 32_769] {
        #expect(RealFFT.goodLength(atLeast: m) == reference(m), "m = \(m)")
    }
}

// MARK: - Chunked causal linear attention

/// O_t = Σ_{s≤t} (q_t·k_s)·v_s as the full masked quadratic form, with mag_t = Σ_{s≤t} Σ_f
/// |q_tf·k_sf|·|v_s|: the scale of the sum the op forms.
private func refLinearAttention(_ q: [Double], _ k: [Double], _ v: [Double], b: Int, l: Int, d: Int, dv: Int)
    -> (o: [Double], mag: [Double]) {
    var o = [Double](repeating: 0, count: b * l * dv), mag = o
    for bi in 0..<b { for t in 0..<l {
        for s in 0...t {
            var a = 0.0, aa = 0.0
            for f in 0..<d {
                let p = q[(bi * l + t) * d + f] * k[(bi * l + s) * d + f]
                a += p; aa += abs(p)
            }
            for e in 0..<dv {
                o[(bi * l + t) * dv + e] += a * v[(bi * l + s) * dv + e]
                mag[(bi * l + t) * dv + e] += aa * abs(v[(bi * l + s) * dv + e])
            }
        }
    } }
    return (o, mag)
}

/// The token-by-token recurrence S_t = S_{t−1} + k_t v_tᵀ, o_t = S_tᵀ q_t, in Double.
private func refLinearAttentionRecurrent(_ q: [Double], _ k: [Double], _ v: [Double], b: Int, l: Int, d: Int, dv: Int) -> [Double] {
    var o = [Double](repeating: 0, count: b * l * dv)
    for bi in 0..<b {
        var s = [Double](repeating: 0, count: d * dv)
        for t in 0..<l {
            for f in 0..<d { for e in 0..<dv { s[f * dv + e] += k[(bi * l + t) * d + f] * v[(bi * l + t) * dv + e] } }
            for e in 0..<dv {
                var acc = 0.0
                for f in 0..<d { acc += q[(bi * l + t) * d + f] * s[f * dv + e] }
                o[(bi * l + t) * dv + e] = acc
            }
        }
    }
    return o
}

@Suite struct LinearAttentionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let b, l, d, dv: Int
        var testDescription: String { "B\(b) L\(l) d\(d) dv\(dv)" }
    }
    static let cases = [Case(b: 1, l: 1, d: 4, dv: 3), Case(b: 2, l: 7, d: 5, dv: 3), Case(b: 3, l: 63, d: 16, dv: 8),
                        Case(b: 2, l: 65, d: 8, dv: 16), Case(b: 2, l: 200, d: 32, dv: 19), Case(b: 1, l: 1000, d: 16, dv: 8)]

    /// Chunked (C = 1, 7, 64, L, L + 5; C = 1 is the float32 token recurrence) against the Double
    /// quadratic form, which the Double recurrence matches to 1e-12. The float32 error is a
    /// state-accumulation error: each output sums up to L·d products, so it is judged against
    /// mag = Σ|terms|: |Δ| ≤ 1e-6·mag (measured worst 1.1e-7·mag).
    @Test(arguments: cases)
    func chunkedMatchesQuadraticAndRecurrence(_ c: Case) {
        let q = normal([c.b, c.l, c.d], seed: 3400), k = normal([c.b, c.l, c.d], seed: 3401), v = normal([c.b, c.l, c.dv], seed: 3402)
        let (qd, kd, vd) = (doubles(q), doubles(k), doubles(v))
        let ref = refLinearAttention(qd, kd, vd, b: c.b, l: c.l, d: c.d, dv: c.dv)
        let recurrent = refLinearAttentionRecurrent(qd, kd, vd, b: c.b, l: c.l, d: c.d, dv: c.dv)
        let agree = closeness(recurrent.map { Float($0) }, ref.o, atol: 1e-4, rtol: 1e-6)
        #expect(zip(recurrent, ref.o).allSatisfy { abs($0 - $1) <= 1e-12 * Swift.max(1, abs($1)) }, "Double recurrence vs quadratic: \(agree)")
        for chunk in [1, 7, 64, c.l, c.l + 5] {
            let o = causalLinearAttention(q: q, k: k, v: v, chunkSize: chunk)
            #expect(o.shape == [c.b, c.l, c.dv])
            expectWithinMagnitude(o, ref.o, mag: ref.mag, rtol: 1e-6, "C \(chunk)")
        }
    }

    /// Grid inputs (multiples of 1/4) keep every product and partial sum exact in float32 for
    /// these sizes, so every chunk size must give the reference exactly: indexing alone.
    @Test func exactOnGridInputs() {
        let (b, l, d, dv) = (2, 37, 3, 5)
        let q = grid([b, l, d], seed: 3410), k = grid([b, l, d], seed: 3411), v = grid([b, l, dv], seed: 3412)
        let ref = refLinearAttention(doubles(q), doubles(k), doubles(v), b: b, l: l, d: d, dv: dv).o
        for chunk in [1, 2, 7, 36, 37, 64] {
            expectClose(causalLinearAttention(q: q, k: k, v: v, chunkSize: chunk), ref, atol: 0, rtol: 0, "C \(chunk)")
        }
    }

    /// Outputs at t ≤ cut are bit-identical whatever q, k, v hold after cut, infinities included:
    /// cuts inside chunks, at a chunk's last row, and at the sequence's end.
    @Test(arguments: [1, 7, 16])
    func isCausalBitForBit(_ chunk: Int) {
        let (b, l, d, dv) = (2, 45, 6, 5)
        let q = normal([b, l, d], seed: 3420), k = normal([b, l, d], seed: 3421), v = normal([b, l, dv], seed: 3422)
        let o0 = causalLinearAttention(q: q, k: k, v: v, chunkSize: chunk).toArray()
        for cut in [0, 3, 6, 15, 16, 30, 43] {
            func changed(_ t: Tensor, _ w: Int, _ value: Float) -> Tensor {
                var a = t.toArray()
                for bi in 0..<b { for i in (cut + 1)..<l { for e in 0..<w { a[(bi * l + i) * w + e] = i % 3 == 0 ? value : a[(bi * l + i) * w + e] + 1 } } }
                return Tensor(a, shape: t.shape)
            }
            let o1 = causalLinearAttention(q: changed(q, d, .infinity), k: changed(k, d, -.infinity), v: changed(v, dv, .nan),
                                           chunkSize: chunk).toArray()
            for bi in 0..<b {
                let lo = bi * l * dv, hi = lo + (cut + 1) * dv
                #expect(o0[lo..<hi].map(\.bitPattern) == o1[lo..<hi].map(\.bitPattern), "C \(chunk) batch \(bi) cut \(cut)")
            }
        }
    }

    @Test(arguments: [1, 4, 11, 16])
    func gradients(_ chunk: Int) {
        let (b, l, d, dv) = (2, 11, 3, 2)
        expectGrad([uniform([b, l, d], seed: 3430), uniform([b, l, d], seed: 3431), uniform([b, l, dv], seed: 3432)],
                   "C \(chunk)") { causalLinearAttention(q: $0[0], k: $0[1], v: $0[2], chunkSize: chunk) }
    }

    /// The backward's chunked dQ (state forward) and dK, dV (state in reverse), C = 4 with a
    /// ragged last chunk, against Double differences of the quadratic form: |Δ| ≤ 3e-6 + 3e-6·|∂|
    /// (measured worst 8.5e-7).
    @Test(arguments: [1, 4, 10])
    func gradientMatchesDoubleDifferences(_ chunk: Int) {
        let (b, l, d, dv) = (2, 10, 4, 3)
        expectGradMatchesDouble([normal([b, l, d], seed: 3440), normal([b, l, d], seed: 3441), normal([b, l, dv], seed: 3442)],
                                atol: 3e-6, rtol: 3e-6, "C \(chunk)",
                                op: { causalLinearAttention(q: $0[0], k: $0[1], v: $0[2], chunkSize: chunk) },
                                reference: { refLinearAttention($0[0], $0[1], $0[2], b: b, l: l, d: d, dv: dv).o })
    }

    /// Only the input that asks for a gradient gets one (the dQ pass and the dK/dV pass are
    /// separate), and it equals the one computed with all three.
    @Test func partialGradientsAgree() {
        let (b, l, d, dv) = (2, 50, 8, 5)
        let q = normal([b, l, d], seed: 3450), k = normal([b, l, d], seed: 3451), v = normal([b, l, dv], seed: 3452)
        let seed = uniform([b, l, dv], seed: 3453).toArray()
        for t in [q, k, v] { t.requiresGrad = true }
        causalLinearAttention(q: q, k: k, v: v, chunkSize: 16).backward(seed: seed)
        for i in 0..<3 {
            let inputs = [q, k, v].map { $0.detached() }
            inputs[i].requiresGrad = true
            causalLinearAttention(q: inputs[0], k: inputs[1], v: inputs[2], chunkSize: 16).backward(seed: seed)
            #expect(inputs[i].grad!.toArray() == [q, k, v][i].grad!.toArray(), "input \(i)")
        }
    }

    /// Bit-identical on 1, 2 and 3 threads, B = 1 (the backward's two passes on two threads) and 3.
    @Test(arguments: [1, 3])
    func independentOfThreadCount(_ b: Int) {
        let (l, d, dv) = (300, 16, 12)
        let q = normal([b, l, d], seed: 3460), k = normal([b, l, d], seed: 3461), v = normal([b, l, dv], seed: 3462)
        func run() -> [[Float]] {
            let inputs = [q, k, v].map { $0.detached() }
            for t in inputs { t.requiresGrad = true }
            let o = causalLinearAttention(q: inputs[0], k: inputs[1], v: inputs[2], chunkSize: 64)
            o.backward(seed: uniform([b, l, dv], seed: 3463).toArray())
            return [o.toArray()] + inputs.map { $0.grad!.toArray() }
        }
        let one = Parallel.withThreads(1, run), two = Parallel.withThreads(2, run), three = Parallel.withThreads(3, run)
        #expect(one == two && two == three)
    }

    /// Empty shapes: d = 0 gives zeros (an empty sum), and B = 0, L = 0 or dv = 0 empty outputs.
    @Test func emptyShapes() {
        let o = causalLinearAttention(q: Tensor.zeros([2, 5, 0]), k: Tensor.zeros([2, 5, 0]), v: Tensor.ones([2, 5, 3]), chunkSize: 4)
        #expect(o.shape == [2, 5, 3] && o.toArray().allSatisfy { $0 == 0 })
        for (b, l, dv) in [(0, 5, 3), (2, 0, 3), (2, 5, 0)] {
            let e = causalLinearAttention(q: Tensor.zeros([b, l, 4]), k: Tensor.zeros([b, l, 4]), v: Tensor.zeros([b, l, dv]), chunkSize: 4)
            #expect(e.shape == [b, l, dv])
        }
    }

    @Test func nonPositiveChunkSizeTraps() async {
        await #expect(processExitsWith: .failure) {
            _ = causalLinearAttention(q: Tensor.zeros([1, 4, 2]), k: Tensor.zeros([1, 4, 2]), v: Tensor.zeros([1, 4, 2]), chunkSize: 0)
        }
    }
}
