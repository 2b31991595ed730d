import Foundation
import Testing
import TensorCore

/// Forward values of every op against naive references written as plain Double loops (no
/// tensors). Sizes are ragged (primes, 1, not multiples of 8/16) so SIMD tails and uneven
/// thread chunks are exercised. Tolerances are pinned per test; larger ones say why.
///
/// Where inputs are drawn from a coarse grid (multiples of 1/4 in [−1, 1]) every product and
/// partial sum is exactly representable in float32, so the result must be exact whatever the
/// summation order: those tests use atol = rtol = 0 and check indexing, not rounding.

// MARK: - Helpers

private func expectClose(_ actual: Tensor, _ expected: [Double], shape: [Int]? = nil, atol: Double, rtol: Double,
                         _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
    if let shape { #expect(actual.shape == shape, "\(label): shape \(actual.shape), expected \(shape)", sourceLocation: sourceLocation) }
    guard actual.count == expected.count else {
        Issue.record("\(label): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
        return
    }
    let c = closeness(actual.toArray(), expected, atol: atol, rtol: rtol)
    #expect(c.ok, "\(label): \(c)", sourceLocation: sourceLocation)
}

/// The float32 rounding of a Double reference: correctly rounded float ops must match it exactly.
private func toFloat(_ d: Double) -> Double { Double(Float(d)) }

private func bits(_ t: Tensor) -> [UInt32] { t.toArray().map(\.bitPattern) }

private func rowMajorStrides(_ s: [Int]) -> [Int] {
    var st = [Int](repeating: 1, count: s.count)
    var acc = 1
    for i in stride(from: s.count - 1, through: 0, by: -1) { st[i] = acc; acc *= s[i] }
    return st
}

private func unravel(_ flat: Int, _ shape: [Int]) -> [Int] {
    var idx = [Int](repeating: 0, count: shape.count), f = flat
    for i in stride(from: shape.count - 1, through: 0, by: -1) { idx[i] = f % shape[i]; f /= shape[i] }
    return idx
}

/// Flat indices of every lane along `axis`, each lane in axis order.
private func lanes(_ shape: [Int], axis: Int) -> [[Int]] {
    let outer = shape[..<axis].reduce(1, *), n = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
    var out: [[Int]] = []
    for o in 0..<outer { for i in 0..<inner { out.append((0..<n).map { o * n * inner + $0 * inner + i }) } }
    return out
}

private func removing(_ shape: [Int], _ axis: Int, keepDims: Bool) -> [Int] {
    var s = shape
    if keepDims { s[axis] = 1 } else { s.remove(at: axis) }
    return s
}

/// Reference matmul: a (batch, M, K); b shared (K, N) / (N, K) or per batch.
private func refMatmul(_ a: [Float], _ b: [Float], batch: Int, m: Int, k: Int, n: Int,
                       transposeB: Bool, sharedB: Bool) -> [Double] {
    var out = [Double](repeating: 0, count: batch * m * n)
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            for bi in 0..<batch {
                let bo = sharedB ? 0 : bi * k * n
                for i in 0..<m {
                    for j in 0..<n {
                        var s = 0.0
                        for p in 0..<k {
                            let bv = transposeB ? pb[bo + j * k + p] : pb[bo + p * n + j]
                            s += Double(pa[(bi * m + i) * k + p]) * Double(bv)
                        }
                        out[(bi * m + i) * n + j] = s
                    }
                }
            }
        }
    }
    return out
}

/// Reference broadcasting: explicit index mapping, out index → operand index.
private func refBroadcast(_ a: [Float], _ sa: [Int], _ b: [Float], _ sb: [Int],
                          _ f: (Float, Float) -> Double) -> (shape: [Int], values: [Double]) {
    let r = max(sa.count, sb.count)
    let pa = [Int](repeating: 1, count: r - sa.count) + sa, pb = [Int](repeating: 1, count: r - sb.count) + sb
    let shape = (0..<r).map { max(pa[$0], pb[$0]) }
    let stA = rowMajorStrides(pa), stB = rowMajorStrides(pb)
    let n = shape.reduce(1, *)
    var out = [Double](repeating: 0, count: n)
    for flat in 0..<n {
        let idx = unravel(flat, shape)
        var ia = 0, ib = 0
        for d in 0..<r {
            ia += (pa[d] == 1 ? 0 : idx[d]) * stA[d]
            ib += (pb[d] == 1 ? 0 : idx[d]) * stB[d]
        }
        out[flat] = f(a[ia], b[ib])
    }
    return (shape, out)
}

/// Reference attention on accessor closures, (B, H, T, D) out; query i sees key j ≤ i + (S − T).
private func refAttention(b: Int, h: Int, t: Int, s: Int, d: Int, causal: Bool,
                          q: (Int, Int, Int, Int) -> Double, k: (Int, Int, Int, Int) -> Double,
                          v: (Int, Int, Int, Int) -> Double) -> [Double] {
    var out = [Double](repeating: 0, count: b * h * t * d)
    let scale = 1 / Double(d).squareRoot()
    var scores = [Double](repeating: 0, count: s)
    for bi in 0..<b {
        for hi in 0..<h {
            for i in 0..<t {
                let visible = causal ? min(s, i + (s - t) + 1) : s
                var mx = -Double.infinity
                for j in 0..<visible {
                    var dotp = 0.0
                    for e in 0..<d { dotp += q(bi, hi, i, e) * k(bi, hi, j, e) }
                    scores[j] = dotp * scale
                    mx = max(mx, scores[j])
                }
                var z = 0.0
                for j in 0..<visible { scores[j] = Foundation.exp(scores[j] - mx); z += scores[j] }
                for e in 0..<d {
                    var acc = 0.0
                    for j in 0..<visible { acc += scores[j] / z * v(bi, hi, j, e) }
                    out[((bi * h + hi) * t + i) * d + e] = acc
                }
            }
        }
    }
    return out
}

// MARK: - Matmul

@Suite struct MatmulForwardTests {
    struct Case: CustomStringConvertible, Sendable {
        let batch: [Int], m: Int, k: Int, n: Int, transposeB: Bool, sharedB: Bool
        var description: String { "\(batch)×(\(m),\(k))·(\(k),\(n))\(transposeB ? "ᵀstored" : "") \(sharedB ? "shared" : "batched")" }
    }

    static let cases: [Case] = [
        Case(batch: [3], m: 7, k: 13, n: 5, transposeB: false, sharedB: true),
        Case(batch: [3], m: 7, k: 13, n: 5, transposeB: true, sharedB: true),
        Case(batch: [3], m: 7, k: 13, n: 5, transposeB: false, sharedB: false),
        Case(batch: [2, 3], m: 7, k: 13, n: 5, transposeB: true, sharedB: false),
        Case(batch: [], m: 1, k: 1, n: 1, transposeB: false, sharedB: true),
        Case(batch: [], m: 1, k: 7, n: 1, transposeB: true, sharedB: true),
        Case(batch: [1], m: 1, k: 37, n: 1, transposeB: false, sharedB: false),
        // 2·257·129·65 ≈ 4.3 MFLOP: threaded gemm, split by rows of C.
        Case(batch: [], m: 257, k: 129, n: 65, transposeB: false, sharedB: true),
        Case(batch: [], m: 257, k: 129, n: 65, transposeB: true, sharedB: true),
        // M = 3 < 4·threads with 2·3·257·1031 ≈ 1.6 MFLOP: threaded gemm, split by columns.
        Case(batch: [], m: 3, k: 257, n: 1031, transposeB: false, sharedB: true),
        Case(batch: [], m: 3, k: 257, n: 1031, transposeB: true, sharedB: true),
        // Per-batch GEMM ≥ 4 MFLOP goes through the threaded gemm once per batch entry.
        Case(batch: [2], m: 129, k: 257, n: 65, transposeB: false, sharedB: false),
        Case(batch: [2], m: 129, k: 257, n: 65, transposeB: true, sharedB: false),
        // Many small batched GEMMs: split across the batch over threads.
        Case(batch: [2, 150], m: 13, k: 37, n: 11, transposeB: false, sharedB: false),
        Case(batch: [2, 150], m: 13, k: 37, n: 11, transposeB: true, sharedB: false),
    ]

    private func operands(_ c: Case, exact: Bool, seed: UInt64) -> (Tensor, Tensor) {
        let aShape = c.batch + [c.m, c.k]
        let bCore = c.transposeB ? [c.n, c.k] : [c.k, c.n]
        let bShape = c.sharedB ? bCore : c.batch + bCore
        if exact { return (grid(aShape, seed: seed), grid(bShape, seed: seed + 1)) }
        return (normal(aShape, seed: seed), normal(bShape, seed: seed + 1))
    }

    /// Grid inputs: every partial sum is exact, so any indexing slip shows as a difference.
    @Test(arguments: cases)
    func exactOnGridInputs(_ c: Case) {
        let (a, b) = operands(c, exact: true, seed: 100)
        let y = matmul(a, b, transposeB: c.transposeB)
        let batch = c.batch.reduce(1, *)
        let ref = refMatmul(a.toArray(), b.toArray(), batch: batch, m: c.m, k: c.k, n: c.n,
                            transposeB: c.transposeB, sharedB: c.sharedB)
        expectClose(y, ref, shape: c.batch + [c.m, c.n], atol: 0, rtol: 0, "\(c)")
    }

    /// Normal inputs: a float32 dot product of length K rounds to ≈ √K·2⁻²⁴·Σ|aᵢbᵢ| with
    /// Σ|aᵢbᵢ| ≈ 0.64·K, i.e. ≈ 4e-8·K^1.5; atol 4e-7·K leaves room for the worst element
    /// (measured: 3.7e-5 at K = 257, 1.5e-6 at K = 13).
    @Test(arguments: cases)
    func accurateOnNormalInputs(_ c: Case) {
        let (a, b) = operands(c, exact: false, seed: 200)
        let y = a.matmul(b, transposeB: c.transposeB)
        let ref = refMatmul(a.toArray(), b.toArray(), batch: c.batch.reduce(1, *), m: c.m, k: c.k, n: c.n,
                            transposeB: c.transposeB, sharedB: c.sharedB)
        expectClose(y, ref, shape: c.batch + [c.m, c.n], atol: 4e-7 * Double(c.k), rtol: 1e-6, "\(c)")
    }

    @Test func linearWithAndWithoutBias() {
        let x = normal([2, 5, 13], seed: 300), w = normal([7, 13], seed: 301), bias = normal([7], seed: 302)
        let noBias = refMatmul(x.toArray(), w.toArray(), batch: 1, m: 10, k: 13, n: 7, transposeB: true, sharedB: true)
        expectClose(linear(x, weight: w), noBias, shape: [2, 5, 7], atol: 1e-5, rtol: 1e-5, "linear, no bias")
        let bv = bias.toArray()
        let withBias = noBias.enumerated().map { $0.element + Double(bv[$0.offset % 7]) }
        expectClose(linear(x, weight: w, bias: bias), withBias, shape: [2, 5, 7], atol: 1e-5, rtol: 1e-5, "linear + bias")
    }

    /// K = 0 is an empty sum: the product must be all zeros (as torch.matmul gives).
    @Test func emptyInnerDimensionGivesZeros() {
        // Recycle same-sized buffers full of NaN first, so "never written" cannot pass as zeros.
        for _ in 0..<8 { _ = Tensor.full([3, 4], .nan) }
        let y = matmul(Tensor.zeros([3, 0]), Tensor.zeros([0, 4]))
        expectClose(y, [Double](repeating: 0, count: 12), shape: [3, 4], atol: 0, rtol: 0, "(3,0)·(0,4)")
    }
}

// MARK: - Broadcasting binary ops

@Suite struct BroadcastForwardTests {
    static let shapePairs: [([Int], [Int])] = [
        ([2, 1, 5], [3, 1]), ([3, 1], [2, 1, 5]), ([4], [2, 3, 4]), ([2, 3, 4], [4]),
        ([], [3, 4]), ([3, 4], []), ([], []), ([1], [7]), ([7, 1], [1, 13]), ([1, 1, 1], [1]),
        ([5, 1, 3], [5, 4, 1]), ([3, 5], [3, 5]), ([37], [37]), ([1, 13], [13]),
        ([600, 1], [1, 131]),   // ≥ 2 rows per thread chunk: the broadcast path runs threaded
        ([65_537], [65_537]),   // same-shape path with two thread chunks
    ]

    private func reference(_ op: BinaryOp) -> (Float, Float) -> Double {
        switch op {
        case .add: return { toFloat(Double($0) + Double($1)) }
        case .sub: return { toFloat(Double($0) - Double($1)) }
        case .mul: return { toFloat(Double($0) * Double($1)) }
        case .div: return { toFloat(Double($0) / Double($1)) }
        case .minimum: return { Double(Swift.min($0, $1)) }
        case .maximum: return { Double(Swift.max($0, $1)) }
        }
    }

    /// IEEE +, −, ×, ÷ are correctly rounded, and rounding the Double result of two float32
    /// operands to float32 gives the same value (53 ≥ 2·24 + 2): results must equal the
    /// reference rounded once to float32, bit for bit (atol = rtol = 0).
    @Test(arguments: BinaryOp.allCases)
    func matchesIndexMappingReference(_ op: BinaryOp) {
        for (i, (sa, sb)) in Self.shapePairs.enumerated() {
            let a = normal(sa, seed: UInt64(400 + i)), b = op == .div ? uniform(sb, seed: UInt64(500 + i), low: 0.5, high: 3)
                : normal(sb, seed: UInt64(500 + i))
            let ref = refBroadcast(a.toArray(), sa, b.toArray(), sb, reference(op))
            expectClose(binary(op, a, b), ref.values, shape: ref.shape, atol: 0, rtol: 0, "\(op) \(sa)∘\(sb)")
        }
    }

    /// Grid inputs are full of exact ties; the forward value of min/max at a tie is that value.
    @Test func minimumMaximumWithTies() {
        for (i, (sa, sb)) in [([7, 13], [7, 13]), ([2, 1, 5], [3, 1]), ([13], [7, 1])].enumerated() {
            let a = grid(sa, seed: UInt64(600 + i)), b = grid(sb, seed: UInt64(610 + i))
            let lo = refBroadcast(a.toArray(), sa, b.toArray(), sb) { Double(Swift.min($0, $1)) }
            let hi = refBroadcast(a.toArray(), sa, b.toArray(), sb) { Double(Swift.max($0, $1)) }
            expectClose(minimum(a, b), lo.values, shape: lo.shape, atol: 0, rtol: 0, "minimum \(sa) \(sb)")
            expectClose(maximum(a, b), hi.values, shape: hi.shape, atol: 0, rtol: 0, "maximum \(sa) \(sb)")
        }
    }

    /// Documents what the code does with NaN, ±inf and signed zeros (`x <= y ? x : y`):
    /// a NaN in the FIRST operand is dropped (the other value wins), a NaN in the SECOND
    /// propagates (torch.minimum would give NaN for both); infinities order normally; at
    /// ±0 ties the first operand is returned. Same on the same-shape and broadcast paths.
    @Test func minimumMaximumSpecialValues() {
        let nan = Float.nan, inf = Float.infinity
        let a: [Float] = [nan, 1, nan, -inf, inf, 1, -0.0, 0, 2, -inf]
        let b: [Float] = [1, nan, nan, 3, 3, inf, 0, -0.0, 2, -inf]
        let minExpected: [Float] = [1, nan, nan, -inf, 3, 1, -0.0, 0, 2, -inf]
        let maxExpected: [Float] = [1, nan, nan, 3, inf, inf, -0.0, 0, 2, -inf]
        let n = a.count
        for broadcastPath in [false, true] {
            let ta = Tensor(a, shape: [n]), tb = Tensor(b, shape: broadcastPath ? [1, n] : [n])
            for (name, y, e) in [("minimum", minimum(ta, tb), minExpected), ("maximum", maximum(ta, tb), maxExpected)] {
                let got = y.toArray()
                #expect(y.count == n)
                for i in 0..<min(n, got.count) {
                    let same = (got[i].isNaN && e[i].isNaN) || got[i].bitPattern == e[i].bitPattern
                    #expect(same, "\(name)(\(a[i]), \(b[i])) = \(got[i]) (sign \(got[i].sign)), expected \(e[i]) (sign \(e[i].sign)), broadcast \(broadcastPath)")
                }
            }
        }
    }

    @Test func scalarOperatorsMatchReference() {
        let x = normal([3, 7], seed: 700)
        let xv = x.toArray().map(Double.init)
        expectClose(x + 2.5, xv.map { toFloat($0 + 2.5) }, shape: [3, 7], atol: 0, rtol: 0, "x + 2.5")
        expectClose(x - 2.5, xv.map { toFloat($0 - 2.5) }, shape: [3, 7], atol: 0, rtol: 0, "x - 2.5")
        expectClose(x * 2.5, xv.map { toFloat($0 * 2.5) }, shape: [3, 7], atol: 0, rtol: 0, "x * 2.5")
        expectClose(2.5 * x, xv.map { toFloat($0 * 2.5) }, shape: [3, 7], atol: 0, rtol: 0, "2.5 * x")
        expectClose(2.5 + x, xv.map { toFloat(2.5 + $0) }, shape: [3, 7], atol: 0, rtol: 0, "2.5 + x")
        expectClose(2.5 - x, xv.map { toFloat(2.5 - $0) }, shape: [3, 7], atol: 0, rtol: 0, "2.5 - x")
        expectClose(-x, xv.map { -$0 }, shape: [3, 7], atol: 0, rtol: 0, "-x")
        // x / s is x · (1/s): one extra rounding of 1/s, so ≤ 1 ulp from the true quotient.
        expectClose(x / 3, xv.map { $0 / 3 }, shape: [3, 7], atol: 0, rtol: 1.2e-7, "x / 3")
        expectClose(x / 4, xv.map { $0 / 4 }, shape: [3, 7], atol: 0, rtol: 0, "x / 4 (exact reciprocal)")
    }
}

// MARK: - Unary ops

@Suite struct UnaryForwardTests {
    /// Ragged sizes: 1, a partial SIMD vector, and one big enough to be split over threads at
    /// a boundary that is not a multiple of 8.
    static let sizes = [1, 7, 37, 40_003]

    @Test(arguments: sizes)
    func exactOps(_ n: Int) {
        let x = uniform([n], seed: 800, low: -10, high: 10), pos = uniform([n], seed: 801, low: 1e-3, high: 100)
        let xv = x.toArray(), pv = pos.toArray()
        // Negation, relu and the correctly rounded x² and √x are exact.
        expectClose(-x, xv.map { -Double($0) }, atol: 0, rtol: 0, "neg n=\(n)")
        expectClose(x.relu(), xv.map { Double(Swift.max($0, 0)) }, atol: 0, rtol: 0, "relu n=\(n)")
        expectClose(x.square(), xv.map { toFloat(Double($0) * Double($0)) }, atol: 0, rtol: 0, "square n=\(n)")
        expectClose(pos.sqrt(), pv.map { toFloat(Double($0).squareRoot()) }, atol: 0, rtol: 0, "sqrt n=\(n)")
    }

    @Test(arguments: sizes)
    func transcendentalOps(_ n: Int) {
        let x = uniform([n], seed: 810, low: -10, high: 10), pos = uniform([n], seed: 811, low: 1e-3, high: 100)
        let xv = x.toArray().map(Double.init), pv = pos.toArray().map(Double.init)
        // libm logf/tanhf: ≤ 2 ulp.
        expectClose(pos.log(), pv.map { Foundation.log($0) }, atol: 1e-7, rtol: 3e-7, "log n=\(n)")
        expectClose(x.tanh(), xv.map { Foundation.tanh($0) }, atol: 1e-7, rtol: 3e-7, "tanh n=\(n)")
        expectClose(x.exp(), xv.map { Foundation.exp($0) }, atol: 0, rtol: 5e-7, "exp n=\(n)")
        expectClose(x.sigmoid(), xv.map { 1 / (1 + Foundation.exp(-$0)) }, atol: 1e-7, rtol: 5e-7, "sigmoid n=\(n)")
    }

    /// Tensor.exp() runs exp8 over 8-lane bodies and a zero-padded tail; every element must be
    /// bit-identical to the scalar expf8 whatever its position or thread chunk.
    @Test func tensorExpMatchesScalarKernelBitForBit() {
        let x = uniform([40_003], seed: 820, low: -90, high: 90)
        let y = x.exp().toArray(), xv = x.toArray()
        var mismatches = 0, first = -1
        for i in 0..<xv.count where y[i].bitPattern != expf8(xv[i]).bitPattern {
            mismatches += 1; if first < 0 { first = i }
        }
        #expect(mismatches == 0, "\(mismatches) mismatches, first at \(first)")
    }

    /// GELU(x) = ½x(1 + erf(x/√2)). erf uses Abramowitz–Stegun 7.1.26 (|error| ≤ 1.5e-7, up
    /// to ≈ 3.5e-7 once evaluated in float32, see ErfKernelTests), so the absolute error is
    /// ≲ ½|x|·3.5e-7 + rounding: atol 6e-7 rather than 1e-7 (measured 4.2e-7). The relative
    /// error is large only where GELU ≈ 0 (x ≪ 0), where 1 + erf cancels.
    @Test func geluMatchesErfForm() {
        var xs: [Float] = (0...2000).map { -10 + Float($0) * 0.01 }
        xs += [0, -0.0, 1e-6, -1e-6, 1e-30, -1e-30, 50, -50]
        let y = Tensor(xs, shape: [xs.count]).gelu()
        let ref = xs.map { x -> Double in let d = Double(x); return 0.5 * d * (1 + Foundation.erf(d / 2.0.squareRoot())) }
        expectClose(y, ref, atol: 6e-7, rtol: 1e-6, "gelu on [-10, 10] and ±50")
        // Positive side: GELU ≈ x, so the same erf bound is a small relative error (measured 2.1e-7).
        let posIdx = xs.indices.filter { xs[$0] >= 0.5 }
        let c = closeness(posIdx.map { y.toArray()[$0] }, posIdx.map { ref[$0] }, atol: 0, rtol: 4e-7)
        #expect(c.ok, "gelu x ≥ 0.5: \(c)")
    }

    /// Limits: GELU(+inf) = +inf, GELU(−inf) = 0 (x·Φ(x) → 0), GELU(NaN) = NaN.
    @Test func geluAtInfinities() {
        let y = Tensor([.infinity, -.infinity, .nan, Float.greatestFiniteMagnitude, -Float.greatestFiniteMagnitude],
                       shape: [5]).gelu().toArray()
        #expect(y[0] == .infinity, "gelu(+inf) = \(y[0])")
        #expect(y[1] == 0, "gelu(-inf) = \(y[1]), expected 0 (the limit of x·Φ(x))")
        #expect(y[2].isNaN, "gelu(nan) = \(y[2])")
        #expect(y[3] == Float.greatestFiniteMagnitude, "gelu(FLT_MAX) = \(y[3])")
        #expect(y[4] == 0, "gelu(-FLT_MAX) = \(y[4])")
    }

    @Test func sigmoidAtExtremes() {
        let xs: [Float] = [.infinity, -.infinity, .nan, 100, -100, 88.8, -88.8, 87, -87, 30, -30, 17, -17, 0]
        let y = Tensor(xs, shape: [xs.count]).sigmoid()
        // Results below FLT_MIN (x < −87.3) may flush to 0: atol = FLT_MIN.
        let ref = xs.map { x -> Double in x.isNaN ? .nan : 1 / (1 + Foundation.exp(-Double(x))) }
        expectClose(y, ref, atol: Double(Float.leastNormalMagnitude), rtol: 5e-7, "sigmoid extremes")
        let v = y.toArray()
        #expect(v[0] == 1 && v[1] == 0 && v[2].isNaN, "sigmoid(+inf, -inf, nan) = \(v[0]), \(v[1]), \(v[2])")
        #expect(v.allSatisfy { $0.isNaN || (0...1).contains($0) }, "sigmoid out of [0, 1]: \(v)")
    }
}

// MARK: - Reductions

@Suite struct ReductionForwardTests {
    @Test func sumMeanMaxAlongEveryAxis() {
        let shape = [3, 5, 7]
        let x = normal(shape, seed: 900)
        let xv = x.toArray()
        for axis in 0..<3 {
            let ls = lanes(shape, axis: axis)
            let sums = ls.map { $0.reduce(0.0) { $0 + Double(xv[$1]) } }
            let maxes = ls.map { Double($0.map { xv[$0] }.max()!) }
            for keep in [false, true] {
                let outShape = removing(shape, axis, keepDims: keep)
                // Sums of ≤ 7 normal floats: rounding ≲ 7·2⁻²⁴·Σ|x| ≈ 1e-6.
                expectClose(x.sum(axis: axis, keepDims: keep), sums, shape: outShape, atol: 1e-6, rtol: 1e-6, "sum axis \(axis) keep \(keep)")
                expectClose(x.mean(axis: axis, keepDims: keep), sums.map { $0 / Double(shape[axis]) }, shape: outShape,
                            atol: 1e-6, rtol: 1e-6, "mean axis \(axis) keep \(keep)")
                expectClose(x.max(axis: axis, keepDims: keep), maxes, shape: outShape, atol: 0, rtol: 0, "max axis \(axis) keep \(keep)")
            }
            // Negative axes count from the end.
            expectClose(x.sum(axis: axis - 3), sums, shape: removing(shape, axis, keepDims: false), atol: 1e-6, rtol: 1e-6, "sum axis \(axis - 3)")
        }
        let total = xv.reduce(0.0) { $0 + Double($1) }
        expectClose(x.sum(), [total], shape: [], atol: 1e-5, rtol: 1e-6, "sum()")
        expectClose(x.mean(), [total / 105], shape: [], atol: 1e-6, rtol: 1e-6, "mean()")
    }

    /// Long lanes: contiguous 8/16-lane sums (inner = 1) and the strided addInto path;
    /// (300, 257) along axis 1 is split over threads.
    @Test(arguments: [[37, 1031], [300, 257]])
    func longAxes(_ shape: [Int]) {
        let x = normal(shape, seed: 901)
        let xv = x.toArray()
        for axis in 0..<2 {
            let ls = lanes(shape, axis: axis)
            let sums = ls.map { $0.reduce(0.0) { $0 + Double(xv[$1]) } }
            // ≤ 1031 terms, 16 partial accumulators: rounding ≲ 2e-5 absolute.
            expectClose(x.sum(axis: axis), sums, shape: [shape[1 - axis]], atol: 2e-5, rtol: 1e-5, "sum axis \(axis) of \(shape)")
            expectClose(x.max(axis: axis), ls.map { Double($0.map { xv[$0] }.max()!) }, atol: 0, rtol: 0, "max axis \(axis) of \(shape)")
        }
    }

    @Test func maxWithTiesAndInfinities() {
        let x = Tensor([-.infinity, -.infinity, -.infinity, 2, 2, -1, 1, .infinity, 0, -3, -3, -3], shape: [4, 3])
        expectClose(x.max(axis: 1), [-.infinity, 2, .infinity, -3], shape: [4], atol: 0, rtol: 0, "row max")
        expectClose(x.max(axis: 0), [2, .infinity, 0], shape: [3], atol: 0, rtol: 0, "column max")
    }

    @Test func varianceIsBiased() {
        let shape = [3, 5, 7]
        let x = normal(shape, seed: 902, std: 2)
        let xv = x.toArray()
        for axis in 0..<3 {
            let ref = lanes(shape, axis: axis).map { lane -> Double in
                let m = lane.reduce(0.0) { $0 + Double(xv[$1]) } / Double(lane.count)
                return lane.reduce(0.0) { $0 + (Double(xv[$1]) - m) * (Double(xv[$1]) - m) } / Double(lane.count)
            }
            expectClose(x.variance(axis: axis), ref, shape: removing(shape, axis, keepDims: false), atol: 1e-6, rtol: 1e-5, "variance axis \(axis)")
            expectClose(x.variance(axis: axis, keepDims: true), ref, shape: removing(shape, axis, keepDims: true), atol: 1e-6, rtol: 1e-5, "variance keepDims axis \(axis)")
        }
        expectClose(Tensor([4, 4, 4], shape: [3]).variance(axis: 0), [0], atol: 0, rtol: 0, "constant variance")
    }
}

// MARK: - Softmax, log-softmax, cross-entropy

private func refLogSoftmaxRows(_ x: [Float], n: Int) -> [Double] {
    var out = [Double](repeating: 0, count: x.count)
    for r in 0..<(x.count / n) {
        let row = (0..<n).map { Double(x[r * n + $0]) }
        let m = row.max()!
        if m == -.infinity { for j in 0..<n { out[r * n + j] = .nan }; continue }
        let lse = m + Foundation.log(row.reduce(0.0) { $0 + Foundation.exp($1 - m) })
        for j in 0..<n { out[r * n + j] = row[j] - lse }
    }
    return out
}

@Suite struct SoftmaxForwardTests {
    /// Rows of width 13: random, ±1e4, −inf entries, all equal, one finite entry.
    static let n = 13
    static func rows() -> [Float] {
        var rng = RNG(seed: 1000)
        var x: [Float] = []
        for _ in 0..<3 { x += (0..<n).map { _ in rng.nextNormal() * 3 } }
        x += (0..<n).map { $0 % 3 == 0 ? 1e4 : ($0 % 3 == 1 ? -1e4 : 0) }
        x += (0..<n).map { $0 % 2 == 0 ? -.infinity : rng.nextNormal() }
        x += [Float](repeating: 0.7, count: n)
        x += (0..<n).map { $0 == 5 ? 42 : -.infinity }
        x += (0..<n).map { _ in 1e4 + Float(rng.nextInt(below: 5)) }   // large offset, small spread
        return x
    }

    @Test func softmaxRows() {
        let x = Self.rows()
        let ref = refLogSoftmaxRows(x, n: Self.n).map { Foundation.exp($0) }
        // The argument x − m is rounded to ½ulp(|x − m|) ≈ 5e-7 for |x − m| < 16, then exp8
        // (< 1 ulp measured) and a 13-term sum: rtol 1.5e-6 (measured 5.9e-7).
        expectClose(Tensor(x, shape: [x.count / Self.n, Self.n]).softmax(), ref, atol: 1e-9, rtol: 1.5e-6, "softmax rows")
        let eq = Tensor([Float](repeating: -3, count: 7), shape: [7]).softmax()
        expectClose(eq, [Double](repeating: 1.0 / 7, count: 7), atol: 0, rtol: 2.5e-7, "equal row")
        expectClose(Tensor([5], shape: [1, 1]).softmax(), [1], atol: 0, rtol: 0, "width-1 row")
    }

    /// A fully masked row has no softmax: the code documents NaN for it.
    @Test func fullyMaskedRowIsNaN() {
        let y = Tensor([-.infinity, -.infinity, -.infinity, 1, 2, 3], shape: [2, 3]).softmax().toArray()
        let maskedAllNaN = y[0..<3].allSatisfy { $0.isNaN }
        #expect(maskedAllNaN, "\(y)")
        #expect(!y[3...].contains { $0.isNaN }, "\(y)")
    }

    /// Long rows (1031 > 16, not a multiple of 8) through the SIMD sums and several threads.
    @Test func softmaxLongRows() {
        let x = normal([37, 1031], seed: 1001, std: 4)
        let ref = refLogSoftmaxRows(x.toArray(), n: 1031).map { Foundation.exp($0) }
        // As above (|x − m| < 32 rounds to ≈ 1e-6 relative) plus a 1031-term float sum over 16
        // lanes: rtol 3e-6 (measured 1.3e-6).
        expectClose(x.softmax(), ref, atol: 1e-10, rtol: 3e-6, "softmax (37, 1031)")
    }

    /// logSoftmax = x − (m + log Σe^{x−m}), rounded once at |m|: the absolute error is
    /// ≲ ulp(max|x|)/2 plus a few ulp of the log. Rows with |x| ≤ 12 get atol 2e-6; the rows
    /// at 1e4 (ulp = 9.8e-4) get atol 1e-3: the inputs themselves are only given to that grid.
    @Test func logSoftmaxRows() {
        let x = Self.rows()
        let y = Tensor(x, shape: [x.count / Self.n, Self.n]).logSoftmax().toArray()
        let ref = refLogSoftmaxRows(x, n: Self.n)
        let rows = x.count / Self.n
        for r in 0..<rows {
            let range = (r * Self.n)..<((r + 1) * Self.n)
            let big = x[range].contains { $0.isFinite && abs($0) > 100 }
            let c = closeness(Array(y[range]), Array(ref[range]), atol: big ? 1e-3 : 2e-6, rtol: 1e-6)
            #expect(c.ok, "logSoftmax row \(r): \(c)")
        }
    }

    @Test func crossEntropyMatchesReference() {
        let v = 13, rows = 10
        let x = normal([2, 5, v], seed: 1002, std: 3)
        var rng = RNG(seed: 1003)
        var targets = (0..<rows).map { _ in Int32(rng.nextInt(below: v)) }
        targets[3] = 0; targets[4] = Int32(v - 1)
        let xv = x.toArray()
        func ref(_ t: [Int32], ignore: Int32) -> Double {
            let ls = refLogSoftmaxRows(xv, n: v)
            let kept = (0..<rows).filter { t[$0] != ignore }
            return kept.reduce(0.0) { $0 - ls[$1 * v + Int(t[$1])] } / Double(max(kept.count, 1))
        }
        expectClose(crossEntropy(x, targets: targets), [ref(targets, ignore: -1)], shape: [], atol: 1e-6, rtol: 1e-6, "CE")
        var ignored = targets
        ignored[1] = -1; ignored[7] = -1
        expectClose(crossEntropy(x, targets: ignored), [ref(ignored, ignore: -1)], atol: 1e-6, rtol: 1e-6, "CE ignoring -1")
        var custom = targets
        custom[0] = -100; custom[9] = -100
        expectClose(crossEntropy(x, targets: custom, ignoreIndex: -100), [ref(custom, ignore: -100)],
                    atol: 1e-6, rtol: 1e-6, "CE ignoreIndex -100")
        // Every row ignored: the code returns 0 (torch would return NaN, 0/0).
        expectClose(crossEntropy(x, targets: [Int32](repeating: -1, count: rows)), [0], atol: 0, rtol: 0, "CE all ignored")
    }

    /// 2400 rows of 7: split over threads (each chunk writes its rows' losses).
    @Test func crossEntropyManyRows() {
        let v = 7, rows = 2400
        let x = normal([rows, v], seed: 1005, std: 2)
        var rng = RNG(seed: 1006)
        let targets = (0..<rows).map { r in r % 17 == 0 ? Int32(-1) : Int32(rng.nextInt(below: v)) }
        let ls = refLogSoftmaxRows(x.toArray(), n: v)
        let kept = (0..<rows).filter { targets[$0] != -1 }
        let ref = kept.reduce(0.0) { $0 - ls[$1 * v + Int(targets[$1])] } / Double(kept.count)
        expectClose(crossEntropy(x, targets: targets), [ref], atol: 1e-6, rtol: 1e-6, "CE 2400 rows")
        expectClose(x.logSoftmax(), ls, atol: 2e-6, rtol: 1e-6, "logSoftmax 2400 rows")
    }

    @Test func crossEntropyIsMinusMeanPickedLogSoftmax() {
        let v = 37
        let x = normal([7, v], seed: 1004, std: 5)
        let targets: [Int32] = [0, 36, 5, -1, 17, 17, 2]
        let ls = x.logSoftmax().toArray()
        let kept = targets.indices.filter { targets[$0] != -1 }
        let picked = kept.reduce(0.0) { $0 - Double(ls[$1 * v + Int(targets[$1])]) } / Double(kept.count)
        expectClose(crossEntropy(x, targets: targets), [picked], atol: 1e-6, rtol: 1e-6, "CE vs −mean logSoftmax[t]")
    }

    @Test func crossEntropyWithExtremeLogits() {
        // Confident right (loss ≈ 0), confident wrong (loss ≈ 2e4), masked entries, equal logits.
        let v = 5
        let x: [Float] = [1e4, -1e4, 0, 0, 0,
                          1e4, -1e4, 0, 0, 0,
                          -.infinity, 3, -.infinity, 1, 2,
                          0.5, 0.5, 0.5, 0.5, 0.5]
        let targets: [Int32] = [0, 1, 4, 2]
        let ls = refLogSoftmaxRows(x, n: v)
        let ref = (0..<4).reduce(0.0) { $0 - ls[$1 * v + Int(targets[$1])] } / 4
        // The 2e4 loss dominates; float32 at 2e4 has ulp 2e-3 (rtol 1e-6 covers it).
        expectClose(crossEntropy(Tensor(x, shape: [4, v]), targets: targets), [ref], atol: 1e-6, rtol: 1e-6, "CE extreme")
        expectClose(crossEntropy(Tensor(Array(x[15...]), shape: [1, v]), targets: [3]), [Foundation.log(5.0)],
                    atol: 0, rtol: 3e-7, "CE equal logits = log V")
    }
}

// MARK: - Layer norm

private func refLayerNorm(_ x: [Float], c: Int, weight: [Float]?, bias: [Float]?, eps: Double = 1e-5) -> [Double] {
    var out = [Double](repeating: 0, count: x.count)
    for r in 0..<(x.count / c) {
        let row = (0..<c).map { Double(x[r * c + $0]) }
        let m = row.reduce(0, +) / Double(c)
        let v = row.reduce(0.0) { $0 + ($1 - m) * ($1 - m) } / Double(c)
        let s = 1 / (v + Double(Float(eps))).squareRoot()
        for j in 0..<c {
            var y = (row[j] - m) * s
            if let weight { y *= Double(weight[j]) }
            if let bias { y += Double(bias[j]) }
            out[r * c + j] = y
        }
    }
    return out
}

@Suite struct LayerNormForwardTests {
    /// C = 1, 7, 65 on 15 rows, and 600 rows of 65 (split over threads).
    @Test(arguments: [(1, 5), (7, 5), (65, 5), (65, 200)])
    func matchesReference(_ c: Int, _ t: Int) {
        let x = normal([3, t, c], seed: 1100, std: 2), w = normal([c], seed: 1101), b = normal([c], seed: 1102)
        let xv = x.toArray(), wv = w.toArray(), bv = b.toArray()
        for (wt, bt) in [(nil, nil), (w, nil), (nil, b), (w, b)] as [(Tensor?, Tensor?)] {
            let ref = refLayerNorm(xv, c: c, weight: wt == nil ? nil : wv, bias: bt == nil ? nil : bv)
            // Float mean/variance over ≤ 65 values, outputs O(1)–O(3): measured ≤ 6.3e-7.
            expectClose(layerNorm(x, weight: wt, bias: bt), ref, shape: [3, t, c], atol: 2e-6, rtol: 2e-6,
                        "layerNorm C=\(c) weight \(wt != nil) bias \(bt != nil)")
        }
    }

    /// Constant rows have variance 0: the output is 0·weight + bias, never NaN. Values whose
    /// float sum is exact give exactly 0; for 0.1 (inexact) the float mean is off by a few ulp
    /// (7.5e-9 each), which 1/√eps ≈ 316 scales to k·2.4e-6 (measured k ≈ 3): atol 3e-5.
    @Test func constantRows() {
        let c = 13
        let values: [Float] = [0, 0.5, -2.25, 3, 1e3, 0.1]
        let x = Tensor(values.flatMap { [Float](repeating: $0, count: c) }, shape: [values.count, c])
        let w = normal([c], seed: 1103), b = normal([c], seed: 1104)
        let bv = b.toArray().map(Double.init)
        let y = layerNorm(x, weight: w, bias: b)
        #expect(!y.toArray().contains { $0.isNaN || $0.isInfinite }, "NaN/inf in \(y)")
        expectClose(y, (0..<values.count).flatMap { _ in bv }, atol: 3e-5, rtol: 0, "constant rows → bias")
        let exactRows = Tensor(Array(x.toArray()[0..<(5 * c)]), shape: [5, c])
        expectClose(layerNorm(exactRows, weight: w, bias: nil), [Double](repeating: 0, count: 5 * c), atol: 0, rtol: 0,
                    "exactly summable constant rows → 0")
        expectClose(layerNorm(Tensor([7], shape: [1, 1]), weight: nil, bias: nil), [0], atol: 0, rtol: 0, "C = 1")
    }
}

// MARK: - Attention

private struct PackedQKV {
    let b: Int, t: Int, heads: Int, d: Int
    var c: Int { heads * d }
    let values: [Float]
    func q(_ bi: Int, _ h: Int, _ i: Int, _ e: Int) -> Double { Double(values[(bi * t + i) * 3 * c + h * d + e]) }
    func k(_ bi: Int, _ h: Int, _ i: Int, _ e: Int) -> Double { Double(values[(bi * t + i) * 3 * c + c + h * d + e]) }
    func v(_ bi: Int, _ h: Int, _ i: Int, _ e: Int) -> Double { Double(values[(bi * t + i) * 3 * c + 2 * c + h * d + e]) }

    /// Reference in the fused op's (B, T, C) layout.
    func reference() -> [Double] {
        let bhtd = refAttention(b: b, h: heads, t: t, s: t, d: d, causal: true, q: q, k: k, v: v)
        var out = [Double](repeating: 0, count: b * t * c)
        for bi in 0..<b { for h in 0..<heads { for i in 0..<t { for e in 0..<d {
            out[(bi * t + i) * c + h * d + e] = bhtd[((bi * heads + h) * t + i) * d + e]
        } } } }
        return out
    }
}

/// q, k, v (B, H, T, D) cut out of the packed (B, T, 3C) tensor with slice/reshape/permute,
/// the composed attention, and its output permuted back to (B, T, C).
private func composedAttention(_ qkv: Tensor, heads: Int) -> Tensor {
    let b = qkv.shape[0], t = qkv.shape[1], c = qkv.shape[2] / 3, d = c / heads
    func part(_ i: Int) -> Tensor {
        qkv.slice(axis: 2, (i * c)..<((i + 1) * c)).reshape([b, t, heads, d]).permute([0, 2, 1, 3])
    }
    return attention(q: part(0), k: part(1), v: part(2), causal: true).permute([0, 2, 1, 3]).reshape([b, t, c])
}

@Suite struct AttentionForwardTests {
    struct Case: CustomStringConvertible, Sendable {
        let b: Int, t: Int, heads: Int, d: Int
        var description: String { "B\(b) T\(t) H\(heads) D\(d)" }
    }

    static let cases: [Case] = [
        Case(b: 1, t: 1, heads: 1, d: 1), Case(b: 2, t: 5, heads: 3, d: 1), Case(b: 2, t: 13, heads: 2, d: 3),
        Case(b: 1, t: 64, heads: 2, d: 32), Case(b: 2, t: 5, heads: 1, d: 32), Case(b: 3, t: 13, heads: 4, d: 3),
        // T ≥ 128: the blocked SGEMM kernel, with a ragged last block and more than two blocks.
        Case(b: 1, t: 130, heads: 2, d: 8), Case(b: 2, t: 200, heads: 1, d: 64), Case(b: 1, t: 128, heads: 3, d: 5),
    ]

    @Test(arguments: cases)
    func fusedMatchesComposedAndReference(_ c: Case) {
        let qkv = normal([c.b, c.t, 3 * c.heads * c.d], seed: 1200 + UInt64(c.t * 7 + c.d))
        let ref = PackedQKV(b: c.b, t: c.t, heads: c.heads, d: c.d, values: qkv.toArray()).reference()
        let fused = causalSelfAttention(qkv, heads: c.heads), composed = composedAttention(qkv, heads: c.heads)
        let shape = [c.b, c.t, c.heads * c.d]
        // O(1) scores and values: float rounding ≲ 1e-6.
        expectClose(fused, ref, shape: shape, atol: 2e-6, rtol: 1e-5, "fused vs reference \(c)")
        expectClose(composed, ref, shape: shape, atol: 2e-6, rtol: 1e-5, "composed vs reference \(c)")
        expectClose(fused, composed.toArray().map(Double.init), atol: 2e-6, rtol: 1e-5, "fused vs composed \(c)")
    }

    /// Inputs ×30: scores reach ~10³, softmax is nearly one-hot. A score s is rounded to
    /// ≈ |s|·2⁻²⁴·√D ≈ 1e-4, which moves the output by up to |v|·Δs ≈ 30·1e-4 where two
    /// keys compete, so atol 2e-3 (values are O(30); measured 4.1e-4); both float paths must
    /// still agree with the Double reference there.
    @Test(arguments: cases)
    func largeScoreMagnitudes(_ c: Case) {
        let qkv = normal([c.b, c.t, 3 * c.heads * c.d], seed: 1300 + UInt64(c.t * 7 + c.d), std: 30)
        let ref = PackedQKV(b: c.b, t: c.t, heads: c.heads, d: c.d, values: qkv.toArray()).reference()
        let fused = causalSelfAttention(qkv, heads: c.heads), composed = composedAttention(qkv, heads: c.heads)
        #expect(!fused.toArray().contains { !$0.isFinite }, "non-finite fused output \(c)")
        expectClose(fused, ref, atol: 2e-3, rtol: 1e-4, "fused ×30 \(c)")
        expectClose(composed, ref, atol: 2e-3, rtol: 1e-4, "composed ×30 \(c)")
    }

    /// Changing q/k/v at positions > t must leave outputs at positions ≤ t bit-identical, in
    /// both kernels (T = 150: the blocked one, with cuts inside and between its row blocks),
    /// also when the future holds inf and NaN.
    @Test(arguments: [(13, 3, [0, 4, 11]), (150, 8, [0, 63, 64, 100, 148])])
    func fusedIsCausal(_ t: Int, _ d: Int, _ cuts: [Int]) {
        let b = 2, heads = 2, c = heads * d
        let x = normal([b, t, 3 * c], seed: 1400)
        let y0 = causalSelfAttention(x, heads: heads).toArray()
        for cut in cuts {
            for extreme in [false, true] {
                var changed = x.toArray()
                var rng = RNG(seed: 1401 + UInt64(cut))
                for bi in 0..<b { for i in (cut + 1)..<t { for j in 0..<(3 * c) {
                    changed[(bi * t + i) * 3 * c + j] = extreme ? [Float.infinity, -.infinity, .nan][(i + j) % 3] : rng.nextNormal() * 10
                } } }
                let y1 = causalSelfAttention(Tensor(changed, shape: x.shape), heads: heads).toArray()
                for bi in 0..<b {
                    let lo = bi * t * c, hi = lo + (cut + 1) * c
                    #expect(y0[lo..<hi].map(\.bitPattern) == y1[lo..<hi].map(\.bitPattern),
                            "T \(t), batch \(bi): outputs at positions ≤ \(cut) changed (extreme future: \(extreme))")
                    // …and the future positions did change (the edit was not a no-op).
                    #expect(y0[hi..<(lo + t * c)].map(\.bitPattern) != y1[hi..<(lo + t * c)].map(\.bitPattern),
                            "T \(t), batch \(bi): future outputs unchanged")
                }
            }
        }
    }

    private func bhtd(_ shape: [Int], _ values: [Float]) -> (Int, Int, Int, Int) -> Double {
        let (h, n, d) = (shape[1], shape[2], shape[3])
        return { b, hi, i, e in Double(values[((b * h + hi) * n + i) * d + e]) }
    }

    @Test func nonCausalAndKVPrefix() {
        // (B, H, T, S, D): square non-causal, a cached prefix (S > T) causal and not, decoding (T = 1).
        let configs: [(Int, Int, Int, Int, Int)] = [(2, 3, 5, 5, 7), (1, 2, 5, 9, 3), (2, 1, 1, 7, 13), (1, 1, 13, 13, 1)]
        for (n, (b, h, t, s, d)) in configs.enumerated() {
            let q = normal([b, h, t, d], seed: 1500 + UInt64(n)), k = normal([b, h, s, d], seed: 1510 + UInt64(n)),
                v = normal([b, h, s, d], seed: 1520 + UInt64(n))
            for causal in [false, true] {
                let ref = refAttention(b: b, h: h, t: t, s: s, d: d, causal: causal, q: bhtd(q.shape, q.toArray()),
                                       k: bhtd(k.shape, k.toArray()), v: bhtd(v.shape, v.toArray()))
                expectClose(attention(q: q, k: k, v: v, causal: causal), ref, shape: [b, h, t, d], atol: 2e-6, rtol: 1e-5,
                            "attention B\(b) H\(h) T\(t) S\(s) D\(d) causal \(causal)")
            }
        }
    }
}

// MARK: - Causal depthwise convolution

/// The kernel in PyTorch's order (Conv1d's weight, oldest lag first) as `causalShortConv`'s lag order.
private func flippedLags(_ w: Tensor) -> Tensor {
    let (d, k) = (w.shape[0], w.shape[1]), v = w.toArray()
    return Tensor((0..<(d * k)).map { i in v[(i / k) * k + (k - 1 - i % k)] }, shape: [d, k])
}

/// `causalShortConv` against naive loops written in PyTorch's Conv1d order (weight reversed).
@Suite struct ConvForwardTests {
    private func reference(_ x: [Float], b: Int, t: Int, c: Int, _ w: [Float], k: Int) -> [Double] {
        var y = [Double](repeating: 0, count: b * t * c)
        for bi in 0..<b { for ti in 0..<t { for ci in 0..<c {
            var s = 0.0
            for kk in 0..<k {
                let src = ti - k + 1 + kk
                if src >= 0 { s += Double(w[ci * k + kk]) * Double(x[(bi * t + src) * c + ci]) }
            }
            y[(bi * t + ti) * c + ci] = s
        } } }
        return y
    }

    /// T = 7: K = 1, K < T, K = T, K > T; then (4, 64, 32) with K = 4, split over threads.
    @Test(arguments: [(1, 2, 7, 13), (3, 2, 7, 13), (7, 2, 7, 13), (10, 2, 7, 13), (4, 4, 64, 32)])
    func matchesNaiveLoops(_ k: Int, _ b: Int, _ t: Int, _ c: Int) {
        let x = normal([b, t, c], seed: 1600), w = normal([c, k], seed: 1601 + UInt64(k))
        let ref = reference(x.toArray(), b: b, t: t, c: c, w.toArray(), k: k)
        expectClose(causalShortConv(x, kernel: flippedLags(w)), ref, shape: [b, t, c], atol: 2e-6, rtol: 1e-5, "conv K=\(k)")
        let xg = grid([b, t, c], seed: 1602), wg = grid([c, k], seed: 1603)
        expectClose(causalShortConv(xg, kernel: flippedLags(wg)), reference(xg.toArray(), b: b, t: t, c: c, wg.toArray(), k: k),
                    atol: 0, rtol: 0, "conv K=\(k), grid inputs (exact)")
    }

    @Test func isCausal() {
        let b = 2, t = 13, c = 5, k = 4
        let x = normal([b, t, c], seed: 1610), w = normal([c, k], seed: 1611)
        let y0 = causalShortConv(x, kernel: w).toArray()
        for cut in [0, 6, 11] {
            var changed = x.toArray()
            for bi in 0..<b { for i in (cut + 1)..<t { for ci in 0..<c { changed[(bi * t + i) * c + ci] += 1 } } }
            let y1 = causalShortConv(Tensor(changed, shape: x.shape), kernel: w).toArray()
            for bi in 0..<b {
                let lo = bi * t * c, hi = lo + (cut + 1) * c
                #expect(y0[lo..<hi].map(\.bitPattern) == y1[lo..<hi].map(\.bitPattern), "batch \(bi) cut \(cut)")
            }
        }
    }
}

// MARK: - Scans

@Suite struct ScanForwardTests {
    static let shape = [3, 5, 7]

    private func scan(_ x: [Float], axis: Int, _ step: (Double?, Double) -> Double) -> [Double] {
        var out = [Double](repeating: 0, count: x.count)
        for lane in lanes(Self.shape, axis: axis) {
            var acc: Double? = nil
            for i in lane { acc = step(acc, Double(x[i])); out[i] = acc! }
        }
        return out
    }

    private func logAddExp(_ a: Double?, _ b: Double) -> Double {
        guard let a else { return b }
        let hi = max(a, b), lo = min(a, b)
        return hi == -.infinity ? -.infinity : hi + Foundation.log1p(Foundation.exp(lo - hi))
    }

    @Test func cumsumCummaxLogcumsumexpAlongEveryAxis() {
        let x = normal(Self.shape, seed: 1700, std: 3)
        let xv = x.toArray()
        for axis in 0..<3 {
            // Running float sums of ≤ 7 terms.
            expectClose(x.cumsum(axis: axis), scan(xv, axis: axis) { ($0 ?? 0) + $1 }, shape: Self.shape,
                        atol: 2e-6, rtol: 1e-6, "cumsum axis \(axis)")
            expectClose(x.cummax(axis: axis), scan(xv, axis: axis) { max($0 ?? -.infinity, $1) }, atol: 0, rtol: 0,
                        "cummax axis \(axis)")
            // libm expf/log1pf per step, ≤ 7 steps: a few ulp.
            expectClose(x.logcumsumexp(axis: axis), scan(xv, axis: axis, logAddExp), atol: 2e-6, rtol: 1e-6,
                        "logcumsumexp axis \(axis)")
            expectClose(x.cumsum(axis: axis - 3), scan(xv, axis: axis) { ($0 ?? 0) + $1 }, atol: 2e-6, rtol: 1e-6,
                        "cumsum axis \(axis - 3)")
        }
    }

    /// −inf entries (a lane that starts masked, a fully masked lane) and values near 1e3.
    @Test func specialValues() {
        var rng = RNG(seed: 1701)
        var xv = (0..<105).map { _ in 1e3 + rng.nextNormal() * 5 }
        for i in stride(from: 0, to: 105, by: 4) { xv[i] = -.infinity }
        for i in 0..<7 { xv[i] = -.infinity }            // lane (0, 0, ·) along axis 2 fully −inf
        for i in stride(from: 8, to: 105, by: 7) { xv[i] = -1e3 }
        let x = Tensor(xv, shape: Self.shape)
        for axis in 0..<3 {
            // Running sums ≈ 5e3 carry ulp 4.9e-4: rtol 1e-6 (≈ 8 ulp over ≤ 7 steps).
            let lce = x.logcumsumexp(axis: axis)
            expectClose(lce, scan(xv, axis: axis, logAddExp), atol: 0, rtol: 1e-6, "logcumsumexp axis \(axis)")
            expectClose(x.cummax(axis: axis), scan(xv, axis: axis) { max($0 ?? -.infinity, $1) }, atol: 0, rtol: 0, "cummax axis \(axis)")
            #expect(!lce.toArray().contains { $0.isNaN }, "NaN in logcumsumexp axis \(axis)")
        }
        // cumsum with −inf stays −inf; without, sums near ±1e3 are rounded at ulp(5e3).
        let finite = Tensor(xv.map { $0.isFinite ? $0 : 0 }, shape: Self.shape)
        for axis in 0..<3 {
            expectClose(finite.cumsum(axis: axis), scan(finite.toArray(), axis: axis) { ($0 ?? 0) + $1 },
                        atol: 2e-3, rtol: 1e-6, "cumsum of ±1e3 axis \(axis)")
        }
    }

    /// Ties: the running max value is the tied value (which index is chosen matters for the grad only).
    @Test func cummaxTies() {
        let x = Tensor([1, 1, 0, 2, 2, -1, 2, 3], shape: [8])
        expectClose(x.cummax(axis: 0), [1, 1, 1, 2, 2, 2, 2, 3], atol: 0, rtol: 0, "cummax ties")
    }

    @Test func shiftedPreviousAndCumulativeMean() {
        let x = normal(Self.shape, seed: 1702)
        let xv = x.toArray()
        for axis in 0..<3 {
            var prev = [Double](repeating: 0, count: xv.count), cm = [Double](repeating: 0, count: xv.count)
            for lane in lanes(Self.shape, axis: axis) {
                var s = 0.0
                for (t, i) in lane.enumerated() {
                    prev[i] = Double(xv[lane[Swift.max(t - 1, 0)]])
                    s += Double(xv[i]); cm[i] = s / Double(t + 1)
                }
            }
            expectClose(x.shiftedPrevious(axis: axis), prev, shape: Self.shape, atol: 0, rtol: 0, "shiftedPrevious axis \(axis)")
            expectClose(x.cumulativeMean(axis: axis), cm, shape: Self.shape, atol: 1e-6, rtol: 1e-6, "cumulativeMean axis \(axis)")
        }
        let one = normal([4, 1, 3], seed: 1703)
        expectClose(one.shiftedPrevious(axis: 1), one.toArray().map(Double.init), shape: [4, 1, 3], atol: 0, rtol: 0, "length-1 axis")
    }
}

// MARK: - Shape ops and embedding

@Suite struct ShapeForwardTests {
    @Test func permuteMatchesIndexMapping() {
        let shape = [3, 5, 7, 2]
        let x = normal(shape, seed: 1800)
        let xv = x.toArray(), st = rowMajorStrides(shape)
        for dims in [[0, 1, 2, 3], [3, 2, 1, 0], [1, 0, 3, 2], [2, 0, 3, 1], [0, 2, 1, 3], [0, 1, 3, 2]] {
            let outShape = dims.map { shape[$0] }
            let ref = (0..<x.count).map { flat -> Double in
                let oi = unravel(flat, outShape)
                var src = 0
                for (d, axis) in dims.enumerated() { src += oi[d] * st[axis] }
                return Double(xv[src])
            }
            let y = x.permute(dims)
            expectClose(y, ref, shape: outShape, atol: 0, rtol: 0, "permute \(dims)")
            let inverse = dims.indices.map { dims.firstIndex(of: $0)! }
            #expect(bits(y.permute(inverse)) == bits(x), "permute \(dims) round trip")
        }
        #expect(bits(x.transpose(1, -1)) == bits(x.permute([0, 3, 2, 1])), "transpose(1, -1)")
        // Size-1 dimensions, rank 1 and rank 0.
        let y = normal([1, 5, 1], seed: 1804)
        #expect(y.permute([2, 0, 1]).shape == [1, 1, 5] && bits(y.permute([2, 0, 1])) == bits(y))
        #expect(bits(y.permute([1, 0, 2])) == bits(y))
        let r1 = normal([7], seed: 1805)
        #expect(bits(r1.permute([0])) == bits(r1))
        #expect(Tensor.scalar(3).permute([]).toArray() == [3])
    }

    @Test func sliceConcatRoundTrip() {
        let shape = [3, 13, 5]
        let x = normal(shape, seed: 1801)
        for axis in 0..<3 {
            let n = shape[axis]
            for cuts in [[0, n], [0, 1, n], [0, n / 2, n - 1, n], [0, 0, n]] {
                let parts = zip(cuts, cuts.dropFirst()).map { x.slice(axis: axis, $0..<$1) }
                let y = parts.count == 1 ? parts[0] : concat(parts, axis: axis)
                #expect(y.shape == shape && bits(y) == bits(x), "slice/concat axis \(axis) cuts \(cuts)")
            }
            // A slice against its index-mapping reference.
            let lo = 1, hi = shape[axis] - 1
            var sliced = shape
            sliced[axis] = hi - lo
            let xv = x.toArray(), st = rowMajorStrides(shape)
            let ref = (0..<sliced.reduce(1, *)).map { flat -> Double in
                var idx = unravel(flat, sliced)
                idx[axis] += lo
                return Double(xv[zip(idx, st).reduce(0) { $0 + $1.0 * $1.1 }])
            }
            expectClose(x.slice(axis: axis, lo..<hi), ref, shape: sliced, atol: 0, rtol: 0, "slice axis \(axis)")
        }
        let empty = x.slice(axis: 1, 4..<4)
        #expect(empty.shape == [3, 0, 5] && empty.count == 0)
    }

    @Test func reshapeSharesValues() {
        let x = normal([3, 5, 7], seed: 1802)
        let y = x.reshape([-1, 7]), z = x.reshape([105]), w = z.reshape([7, 3, 5])
        #expect(y.shape == [15, 7] && z.shape == [105] && w.shape == [7, 3, 5])
        #expect(bits(y) == bits(x) && bits(w) == bits(x))
        #expect(x.reshape([3, -1, 7]).shape == [3, 5, 7])
    }

    @Test func embeddingPicksRows() {
        let v = 11, c = 7
        let w = normal([v, c], seed: 1803)
        let ids: [Int32] = [3, 0, 10, 3, 5, 10]
        let y = embedding(ids, shape: [2, 3], weight: w)
        let wv = w.toArray()
        let ref = ids.flatMap { id in (0..<c).map { Double(wv[Int(id) * c + $0]) } }
        expectClose(y, ref, shape: [2, 3, c], atol: 0, rtol: 0, "embedding")
        expectClose(embedding([9], shape: [1], weight: w), (0..<c).map { Double(wv[9 * c + $0]) }, shape: [1, c],
                    atol: 0, rtol: 0, "single id")
    }
}

// MARK: - RNG

@Suite struct RNGTests {
    /// SplitMix64 seeding and the xoshiro256** step are checked against the published
    /// reference outputs, so a seed means the same stream everywhere.
    @Test func matchesReferenceGenerators() {
        let r0 = RNG(seed: 0)
        #expect(r0.state.0 == 0xE220_A839_7B1D_CDAF && r0.state.1 == 0x6E78_9E6A_A1B9_65F4
                && r0.state.2 == 0x06C4_5D18_8009_454F && r0.state.3 == 0xF88B_B8A8_724C_81EC, "\(r0.state)")
        var x = RNG(stateWords: [1, 2, 3, 4, 0])
        let outs = (0..<4).map { _ in x.next() }
        #expect(outs == [11520, 0, 1_509_978_240, 1_215_971_899_390_074_240], "\(outs)")
    }

    @Test func sameSeedSameStream() {
        var a = RNG(seed: 1337), b = RNG(seed: 1337), c = RNG(seed: 1338)
        let sa = (0..<1000).map { _ in a.next() }, sb = (0..<1000).map { _ in b.next() }, sc = (0..<1000).map { _ in c.next() }
        #expect(sa == sb)
        #expect(sa != sc)
        var n1 = RNG(seed: 5), n2 = RNG(seed: 5)
        #expect((0..<101).map { _ in n1.nextNormal() } == (0..<101).map { _ in n2.nextNormal() })
    }

    private func mixedDraws(_ r: inout RNG) -> [Double] {
        var out: [Double] = []
        for i in 0..<50 {
            switch i % 5 {
            case 0: out.append(Double(r.nextNormal()))
            case 1: out.append(Double(r.next() >> 11))
            case 2: out.append(Double(r.nextFloat()))
            case 3: out.append(Double(r.nextInt(below: 1000)))
            default: out.append(r.nextDouble())
            }
        }
        return out
    }

    @Test(arguments: [0, 1, 2, 3, 7])
    func stateWordsRoundTripMidStream(_ normalsBefore: Int) {
        var r = RNG(seed: 42)
        for _ in 0..<17 { _ = r.next() }
        for _ in 0..<normalsBefore { _ = r.nextNormal() }
        let words = r.stateWords
        // An odd number of normals leaves the Box–Muller spare pending in the 5th word.
        #expect((words[4] & (1 << 32) != 0) == (normalsBefore % 2 == 1), "spare flag for \(normalsBefore) normals: \(words[4])")
        var restored = RNG(stateWords: words)
        #expect(restored == r)
        #expect(restored.stateWords == words)
        let a = mixedDraws(&r), b = mixedDraws(&restored)
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "streams differ after restore (\(normalsBefore) normals)")
    }

    @Test func spareNormalSurvivesSpecialValues() {
        // The spare is stored by bit pattern: −0 and negative values must round-trip exactly.
        var r = RNG(seed: 9)
        _ = r.nextNormal()
        var copy = RNG(stateWords: r.stateWords)
        #expect(r.nextNormal().bitPattern == copy.nextNormal().bitPattern)
    }

    @Test func nextIntInRangeAndUniform() {
        var r = RNG(seed: 7)
        for n in [1, 2, 3, 7, 1000, 1 << 40, Int.max] {
            for _ in 0..<500 {
                let v = r.nextInt(below: n)
                #expect(v >= 0 && v < n, "nextInt(below: \(n)) = \(v)")
            }
        }
        for bins in [7, 10] {
            let draws = 10_000 * bins
            var counts = [Int](repeating: 0, count: bins)
            for _ in 0..<draws { counts[r.nextInt(below: bins)] += 1 }
            let e = Double(draws) / Double(bins)
            let chi2 = counts.reduce(0.0) { $0 + (Double($1) - e) * (Double($1) - e) / e }
            // χ² with k−1 dof has mean k−1 and sd √(2(k−1)); 8 sd above the mean is p < 1e-6.
            let dof = Double(bins - 1)
            #expect(chi2 < dof + 8 * (2 * dof).squareRoot(), "χ² = \(chi2) for \(bins) bins: \(counts)")
        }
    }

    @Test func floatsInUnitInterval() {
        var r = RNG(seed: 8)
        var lo = 1.0, hi = 0.0
        for _ in 0..<10_000 {
            let f = r.nextFloat(), d = r.nextDouble()
            #expect(f >= 0 && f < 1 && d >= 0 && d < 1)
            lo = min(lo, Double(f)); hi = max(hi, Double(f))
        }
        #expect(lo < 1e-3 && hi > 1 - 1e-3, "range [\(lo), \(hi)]")
    }

    @Test func normalMoments() {
        var r = RNG(seed: 11)
        let n = 100_000
        var s = 0.0, s2 = 0.0
        for _ in 0..<n { let x = Double(r.nextNormal()); s += x; s2 += x * x }
        let mean = s / Double(n), std = (s2 / Double(n) - mean * mean).squareRoot()
        // Standard errors: 1/√n ≈ 3.2e-3 for the mean, 1/√(2n) ≈ 2.2e-3 for the std; 5 sigma.
        #expect(abs(mean) < 5 * 3.2e-3, "mean \(mean)")
        #expect(abs(std - 1) < 5 * 2.3e-3, "std \(std)")
        // randn draws the same stream, scaled.
        var a = RNG(seed: 12), b = RNG(seed: 12)
        let t = Tensor.randn([37], std: 0.5, rng: &a)
        #expect(t.toArray() == (0..<37).map { _ in b.nextNormal() * 0.5 })
        #expect(a == b)
    }
}

// MARK: - Thread counts and determinism (serialized: the only suite that changes Parallel.threads)

/// A two-layer MLP block with layer norm and attention, built from fixed seeds.
private func smallGraph(fused: Bool) -> (out: [Float], loss: Float, grads: [[Float]]) {
    var rng = RNG(seed: 2024)
    let b = 2, t = 5, c = 12, heads = 3, v = 11
    let x = Tensor.randn([b, t, c], rng: &rng, requiresGrad: true)
    let ln1 = Tensor.randn([c], std: 0.1, rng: &rng, requiresGrad: true)
    let wqkv = Tensor.randn([3 * c, c], std: 0.3, rng: &rng, requiresGrad: true)
    let w1 = Tensor.randn([4 * c, c], std: 0.3, rng: &rng, requiresGrad: true)
    let b1 = Tensor.randn([4 * c], std: 0.1, rng: &rng, requiresGrad: true)
    let w2 = Tensor.randn([v, 4 * c], std: 0.3, rng: &rng, requiresGrad: true)
    let targets = (0..<(b * t)).map { _ in Int32(rng.nextInt(below: v)) }
    let h = layerNorm(x, weight: ln1 + 1, bias: nil)
    let qkv = linear(h, weight: wqkv)
    let att = fused ? causalSelfAttention(qkv, heads: heads) : composedAttention(qkv, heads: heads)
    let y = linear(linear(att + x, weight: w1, bias: b1).gelu(), weight: w2)
    let loss = crossEntropy(y, targets: targets)
    loss.backward()
    let params = [x, ln1, wqkv, w1, b1, w2]
    return (y.toArray(), loss.item(), params.map { $0.grad?.toArray() ?? [] })
}

@Suite(.serialized) struct ThreadCountTests {
    /// `withThreads` binds a count for this task and the workers it starts (parallel code
    /// nested in a chunk sees it too), and leaves the process-wide count, which other tests
    /// running at the same time read, alone.
    @Test func scopedCountStaysInItsTask() {
        let outside = Parallel.threads, scoped = outside + 2
        let seen = UnsafeMutableBufferPointer<Int>.allocate(capacity: scoped + 1)
        defer { seen.deallocate() }
        seen.initialize(repeating: 0)
        let done = DispatchSemaphore(value: 0)
        Parallel.withThreads(scoped) {
            let caller = pthread_self()
            nonisolated(unsafe) var onWorkers = 0
            let lock = NSLock()
            func workerChunks() -> Int { lock.lock(); defer { lock.unlock() }; return onWorkers }
            // The caller runs chunks too, and on a busy machine may run them all before a worker
            // wakes; its chunks wait (up to 1 s, a few tries) until a worker has taken one.
            for _ in 0..<5 where workerChunks() == 0 {
                Parallel.forEachIndexedChunk(scoped, chunks: scoped) { c, _ in
                    seen[c] = Parallel.threads
                    if pthread_equal(pthread_self(), caller) == 0 {
                        lock.lock(); onWorkers += 1; lock.unlock()
                    } else {
                        let deadline = DispatchTime.now().uptimeNanoseconds + 1_000_000_000
                        while workerChunks() == 0 && DispatchTime.now().uptimeNanoseconds < deadline { usleep(1000) }
                    }
                }
            }
            #expect(onWorkers > 0, "no chunk ran on a worker thread: the check below would be vacuous")
            nonisolated(unsafe) let slot = seen.baseAddress! + scoped   // written before done.signal()
            Thread { slot.pointee = Parallel.threads; done.signal() }.start()
            done.wait()
        }
        #expect(Array(seen.prefix(scoped)) == [Int](repeating: scoped, count: scoped), "counts seen in the chunks")
        #expect(seen[scoped] == outside, "another thread saw the scoped count")
        #expect(Parallel.threads == outside)
    }

    /// Row split (M = 257), column split (M = 3, N = 1031, plain and transposed B) and
    /// per-batch splits agree across 1, 2 and 3 threads. Each chunk is a separate
    /// single-threaded SGEMM whose kernel/blocking may depend on the chunk's size, so results
    /// are not bit-identical across thread counts (measured: ≈ 2e-5 absolute on (257,129)·(129,65)),
    /// but every element must agree to 1e-6 relative to its natural scale Σₚ|a_ip·b_pj|
    /// (an element-wise relative bound would fail on elements that cancel to ≈ 0).
    @Test func gemmSplitsAgreeAcrossThreadCounts() {
        let cases: [(Tensor, Tensor, Bool)] = [
            (normal([257, 129], seed: 1900), normal([129, 65], seed: 1901), false),
            (normal([257, 129], seed: 1902), normal([65, 129], seed: 1903), true),
            (normal([3, 257], seed: 1904), normal([257, 1031], seed: 1905), false),
            (normal([3, 257], seed: 1906), normal([1031, 257], seed: 1907), true),
            (normal([2, 129, 257], seed: 1908), normal([2, 257, 65], seed: 1909), false),
            (normal([5, 7, 13], seed: 1910), normal([5, 13, 5], seed: 1911), false),
        ]
        for (i, (a, b, tb)) in cases.enumerated() {
            let (m, k) = (a.size(-2), a.size(-1)), n = tb ? b.size(-2) : b.size(-1)
            let scale = refMatmul(a.toArray().map(abs), b.toArray().map(abs), batch: a.count / (m * k), m: m, k: k, n: n,
                                  transposeB: tb, sharedB: b.rank == 2)
            let one = Parallel.withThreads(1) { matmul(a, b, transposeB: tb).toArray() }
            for threads in [2, 3] {
                let many = Parallel.withThreads(threads) { matmul(a, b, transposeB: tb).toArray() }
                var worst = 0.0, worstAt = 0
                for j in 0..<one.count {
                    let r = abs(Double(many[j]) - Double(one[j])) / scale[j]
                    if r > worst { worst = r; worstAt = j }
                }
                #expect(worst <= 1e-6, "case \(i) \(a.shape)×\(b.shape): \(threads) vs 1 thread: |Δ|/Σ|ab| = \(worst) at \(worstAt) (\(many[worstAt]) vs \(one[worstAt]))")
            }
        }
    }

    /// Other threaded forwards are chunked by rows, so they are bit-identical across counts.
    @Test func rowwiseOpsIdenticalAcrossThreadCounts() {
        let x = normal([65, 1031], seed: 1920), qkv = normal([3, 13, 36], seed: 1921)
        func run() -> [[UInt32]] {
            [bits(x.softmax()), bits(layerNorm(x, weight: nil, bias: nil)), bits(x.sum(axis: 1)), bits(x.sum(axis: 0)),
             bits(x.gelu()), bits(x.exp()), bits(x + x), bits(causalSelfAttention(qkv, heads: 3))]
        }
        let one = Parallel.withThreads(1, run), two = Parallel.withThreads(2, run), three = Parallel.withThreads(3, run)
        #expect(one == two && one == three)
    }

    /// The same graph, built twice, gives bit-identical outputs, loss and gradients.
    @Test(arguments: [false, true])
    func forwardBackwardIsDeterministic(_ fused: Bool) {
        let a = smallGraph(fused: fused), b = smallGraph(fused: fused)
        #expect(a.out.map(\.bitPattern) == b.out.map(\.bitPattern), "outputs differ")
        #expect(a.loss.bitPattern == b.loss.bitPattern, "loss \(a.loss) vs \(b.loss)")
        #expect(a.grads.allSatisfy { !$0.isEmpty }, "a parameter got no gradient")
        for (i, (ga, gb)) in zip(a.grads, b.grads).enumerated() {
            #expect(ga.map(\.bitPattern) == gb.map(\.bitPattern), "grad \(i) differs")
        }
        #expect(a.loss.isFinite)
    }

    /// The fused and the composed attention give the same graph to float rounding.
    @Test func fusedAndComposedGraphsAgree() {
        let a = smallGraph(fused: true), b = smallGraph(fused: false)
        let c = closeness(a.out, b.out.map(Double.init), atol: 1e-5, rtol: 1e-5)
        #expect(c.ok, "outputs: \(c)")
        for (i, (ga, gb)) in zip(a.grads, b.grads).enumerated() {
            let cg = closeness(ga, gb.map(Double.init), atol: 1e-5, rtol: 1e-4)
            #expect(cg.ok, "grad \(i): \(cg)")
        }
    }
}
