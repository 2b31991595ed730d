import Foundation
import Testing
@testable import TensorCore

/// The public SIMD and GEMM kernels against Double references.

private func floats(_ n: Int, seed: UInt64, low: Float = -1, high: Float = 1) -> [Float] {
    var rng = RNG(seed: seed)
    return (0..<n).map { _ in low + (high - low) * rng.nextFloat() }
}

/// Multiples of 1/4 in [−1, 1]: sums of products are exact in float32.
private func gridFloats(_ n: Int, seed: UInt64) -> [Float] {
    var rng = RNG(seed: seed)
    return (0..<n).map { _ in Float(rng.nextInt(below: 9) - 4) / 4 }
}

/// exp8 on any number of inputs, eight lanes at a time.
private func exp8All(_ xs: [Float]) -> [Float] {
    var out = [Float](repeating: 0, count: xs.count)
    var i = 0
    while i < xs.count {
        var v = F8()
        for j in 0..<Swift.min(8, xs.count - i) { v[j] = xs[i + j] }
        let y = exp8(v)
        for j in 0..<Swift.min(8, xs.count - i) { out[i + j] = y[j] }
        i += 8
    }
    return out
}

/// Relative bound for results in the normal range: 2 ulp (2·2⁻²³ ≈ 2.4e-7), as the kernel
/// claims; measured worst 7.2e-8 over the whole range.
private let expRtol = 2.4e-7

/// Checks one exp result against exp(Double(x)): relative error where the true result is a
/// normal float; the documented flush to 0 where it is subnormal (x < −87.34); +inf where it
/// overflows; NaN for NaN. Returns a failure description or nil.
private func expFailure(_ x: Float, _ y: Float) -> String? {
    let e = Foundation.exp(Double(x))
    if x.isNaN { return y.isNaN ? nil : "exp(nan) = \(y)" }
    if e > Double(Float.greatestFiniteMagnitude) * (1 + 0x1p-25) { return y == .infinity ? nil : "exp(\(x)) = \(y), expected inf" }
    if e < Double(Float.leastNormalMagnitude) {
        return y >= 0 && y <= Float.leastNormalMagnitude ? nil : "exp(\(x)) = \(y), expected ≤ FLT_MIN (true \(e))"
    }
    let rel = abs(Double(y) - e) / e
    return rel <= expRtol ? nil : "exp(\(x)) = \(y), true \(e), rel error \(rel)"
}

@Suite struct ExpKernelTests {
    @Test func denseGridOverMinus104To100() {
        // Step 2⁻¹⁰ hits every residue class of the ln2 reduction many times.
        let xs = (0..<(204 * 1024)).map { Float(-104) + Float($0) * 0x1p-10 }
        let ys = exp8All(xs)
        var failures: [String] = []
        var worst = 0.0, worstX: Float = 0
        for (x, y) in zip(xs, ys) {
            if let f = expFailure(x, y) { failures.append(f) }
            let e = Foundation.exp(Double(x))
            if e >= Double(Float.leastNormalMagnitude) && e <= Double(Float.greatestFiniteMagnitude) {
                let rel = abs(Double(y) - e) / e
                if rel > worst { worst = rel; worstX = x }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failures, first: \(failures.prefix(5)); worst rel \(worst) at \(worstX)")
    }

    @Test func randomFloatsAcrossTheRange() {
        var rng = RNG(seed: 2100)
        var xs: [Float] = []
        for _ in 0..<50_000 { xs.append(-110 + 210 * rng.nextFloat()) }                 // [−110, 100)
        for _ in 0..<10_000 { xs.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))) }  // any bits
        for _ in 0..<10_000 { xs.append((rng.nextFloat() - 0.5) * 1e-3) }                // near 0
        let ys = exp8All(xs)
        let failures = zip(xs, ys).compactMap { expFailure($0, $1) }
        #expect(failures.isEmpty, "\(failures.count) failures, first: \(failures.prefix(5))")
    }

    @Test func specialInputs() {
        let lo: Float = -87.33654, hi: Float = 88.72283
        var xs: [Float] = [0, -0.0, .infinity, -.infinity, .nan, -.nan, Float.greatestFiniteMagnitude,
                           -Float.greatestFiniteMagnitude, Float.leastNonzeroMagnitude, -Float.leastNonzeroMagnitude,
                           Float.leastNormalMagnitude, 1e-30, -1e-30, 1, -1, 0.5, -0.5, 88, -87, 1000, -1000,
                           -103.9, -100, -95, -88, 88.7, 89, 127 * Float(M_LN2), -126 * Float(M_LN2)]
        for v in [lo, hi] { xs += [v, v.nextUp, v.nextDown, v.nextUp.nextUp, v.nextDown.nextDown] }
        let ys = exp8All(xs)
        let failures = zip(xs, ys).compactMap { expFailure($0, $1) }
        #expect(failures.isEmpty, "\(failures)")
        #expect(expf8(-.infinity) == 0 && expf8(.infinity) == .infinity && expf8(.nan).isNaN && expf8(0) == 1)
        #expect(expf8(-1000) == 0 && expf8(1000) == .infinity)
    }

    @Test func scalarEqualsEveryLane() {
        let xs = floats(1001, seed: 2101, low: -100, high: 100)
        let ys = exp8All(xs)
        #expect(zip(xs, ys).allSatisfy { expf8($0).bitPattern == $1.bitPattern })
    }
}

@Suite struct ErfKernelTests {
    /// Abramowitz–Stegun 7.1.26 is documented at |error| ≤ 1.5e-7; evaluating 1 − p·e^{−x²}
    /// in float32 adds up to ~2 ulp(1) ≈ 2.4e-7 where p·e^{−x²} is not small (|x| ≲ 1),
    /// so atol 5e-7 (measured 3.5e-7 near x = 0.22).
    @Test func erfAbsoluteError() {
        var xs = (0...4000).map { Float(-10) + Float($0) * 0.005 }
        xs += [0, -0.0, 1e-30, -1e-30, 50, -50, Float.greatestFiniteMagnitude, -Float.greatestFiniteMagnitude]
        var out: [Float] = []
        var i = 0
        while i < xs.count {
            var v = F8()
            for j in 0..<Swift.min(8, xs.count - i) { v[j] = xs[i + j] }
            let y = erf8(v)
            for j in 0..<Swift.min(8, xs.count - i) { out.append(y[j]) }
            i += 8
        }
        let c = closeness(out, xs.map { Foundation.erf(Double($0)) }, atol: 5e-7, rtol: 0)
        #expect(c.ok, "erf8: \(c)")
        let inf = erf8(F8(repeating: .infinity)), ninf = erf8(F8(repeating: -.infinity))
        #expect(inf[0] == 1 && ninf[0] == -1, "erf(±inf) = \(inf[0]), \(ninf[0])")
    }
}

@Suite struct VectorKernelTests {
    static let lengths = [0, 1, 7, 8, 9, 15, 16, 17, 31, 37, 65, 1031]

    @Test(arguments: lengths)
    func dotAxpyAddInto(_ n: Int) {
        // Grid inputs: exact whatever the lane order.
        let a = gridFloats(n, seed: 2200), b = gridFloats(n, seed: 2201), y0 = gridFloats(n, seed: 2202)
        let exactDot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(Double(dot(a, b, n)) == exactDot, "dot n=\(n)")
        var y = y0
        axpy(0.75, a, &y, n)
        let axpyRef: [Double] = zip(y0, a).map { (p: (Float, Float)) -> Double in Double(p.0) + 0.75 * Double(p.1) }
        #expect(y.map { Double($0) } == axpyRef, "axpy n=\(n)")
        var z = y0
        addInto(&z, a, n)
        let addRef: [Double] = zip(y0, a).map { (p: (Float, Float)) -> Double in Double(p.0) + Double(p.1) }
        #expect(z.map { Double($0) } == addRef, "addInto n=\(n)")
        // Random inputs: Σ of n products in float, error ≲ n·2⁻²⁴·Σ|aᵢbᵢ| (tiny at these n).
        let ra = floats(n, seed: 2203), rb = floats(n, seed: 2204)
        let ref = zip(ra, rb).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let bound = zip(ra, rb).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) } * Double(n) * 0x1p-24
        let got = Double(dot(ra, rb, n))
        #expect(abs(got - ref) <= bound + 1e-12, "dot n=\(n): \(got) vs \(ref)")
        // Elements past n are untouched.
        var guarded = y0 + [42]
        axpy(1, a + [1], &guarded, n)
        addInto(&guarded, a + [1], n)
        #expect(guarded[n] == 42, "axpy/addInto wrote past n=\(n)")
    }
}

@Suite struct GemmKernelTests {
    struct Case: CustomStringConvertible, Sendable {
        let m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float
        var description: String { "m\(m) n\(n) k\(k) tA \(transA) tB \(transB) α \(alpha) β \(beta)" }
    }

    static let cases: [Case] = {
        var cs: [Case] = []
        for (m, n, k) in [(5, 7, 3), (1, 1, 1), (257, 65, 129), (3, 1031, 257)] {
            for ta in [false, true] { for tb in [false, true] {
                cs.append(Case(m: m, n: n, k: k, transA: ta, transB: tb, alpha: 1, beta: 0))
            } }
            cs.append(Case(m: m, n: n, k: k, transA: true, transB: false, alpha: 0.5, beta: 1))
            cs.append(Case(m: m, n: n, k: k, transA: false, transB: true, alpha: 2, beta: -0.5))
        }
        return cs
    }()

    /// Leading dimensions larger than the matrices (sub-blocks of bigger arrays), grid inputs
    /// so the result is exact; C's padding columns must stay untouched, and with β = 0 old
    /// NaNs in C must not leak through.
    @Test(arguments: cases)
    func stridedExact(_ c: Case) {
        let (aRows, aCols) = c.transA ? (c.k, c.m) : (c.m, c.k)
        let (bRows, bCols) = c.transB ? (c.n, c.k) : (c.k, c.n)
        let lda = aCols + 3, ldb = bCols + 2, ldc = c.n + 5
        let a = gridFloats(aRows * lda, seed: 2300), b = gridFloats(bRows * ldb, seed: 2301)
        let sentinel: Float = -12345
        var cm = [Float](repeating: sentinel, count: c.m * ldc)
        let c0 = gridFloats(c.m * c.n, seed: 2302)
        for i in 0..<c.m { for j in 0..<c.n { cm[i * ldc + j] = c.beta == 0 ? .nan : c0[i * c.n + j] } }
        var ref = [Double](repeating: 0, count: c.m * c.n)
        for i in 0..<c.m { for j in 0..<c.n {
            var s = 0.0
            for p in 0..<c.k {
                let av = c.transA ? a[p * lda + i] : a[i * lda + p]
                let bv = c.transB ? b[j * ldb + p] : b[p * ldb + j]
                s += Double(av) * Double(bv)
            }
            ref[i * c.n + j] = Double(c.alpha) * s + (c.beta == 0 ? 0 : Double(c.beta) * Double(c0[i * c.n + j]))
        } }
        gemm(transA: c.transA, transB: c.transB, m: c.m, n: c.n, k: c.k, alpha: c.alpha, a: a, lda: lda, b: b, ldb: ldb,
             beta: c.beta, c: &cm, ldc: ldc)
        var got: [Float] = [], padding: [Float] = []
        for i in 0..<c.m { got += cm[(i * ldc)..<(i * ldc + c.n)]; padding += cm[(i * ldc + c.n)..<((i + 1) * ldc)] }
        let cl = closeness(got, ref, atol: 0, rtol: 0)
        #expect(cl.ok, "gemm \(c): \(cl)")
        #expect(padding.allSatisfy { $0 == sentinel }, "gemm \(c) wrote into C's padding")
    }
}

/// Large buffers are recycled by exact size (LargeBlockCache): a recycled block must come back
/// zeroed when asked, and the cache must stay within its bound.
struct LargeBlockCacheTests {
    @Test func recycledLargeBuffersAreZeroedAndBounded() throws {
        let count = (5 << 20) / 4 + 13             // above the 4 MiB floor, an unusual size
        var first: Buffer? = Buffer(count: count, zeroed: false)
        let address = first!.pointer
        first!.pointer.update(repeating: .nan, count: count)
        first = nil                                 // into the cache
        let second = Buffer(count: count, zeroed: true)
        #expect(second.pointer == address)          // the same block, reused
        var nonZero = 0
        for i in stride(from: 0, to: count, by: 1) where second.pointer[i] != 0 { nonZero += 1 }
        #expect(nonZero == 0)
        #expect(LargeBlockCache.cachedBytes <= LargeBlockCache.capacity)
        #expect(LargeBlockCache.take(bytes: 1 << 20) == nil)   // small blocks are never cached
    }
}

/// The optimizer and gradient-norm kernels against their scalar definitions.
struct OptimizerKernelTests {
    /// The eight-lane AdamW body must give exactly the scalar `apply` (which is PyTorch's
    /// single-tensor arithmetic), on ragged lengths, both lerp branches, with and without decay,
    /// and with tiny, huge and zero gradients.
    @Test(arguments: [1, 7, 8, 9, 64, 1001])
    func adamWVectorBodyEqualsScalarDefinition(_ n: Int) {
        for (w1, decay) in [(Float(0.1), Float?.some(0.999)), (0.1, nil), (0.7, 0.99)] {
            let step = AdamWStep(decay: decay, w1: w1, beta2: 0.99, w2: 0.01, stepSize: 1e-3 / 0.1,
                                 bc2Sqrt: Float(0.01.squareRoot()), eps: 1e-8)
            var p = floats(n, seed: 1), m = floats(n, seed: 2, low: -0.1, high: 0.1)
            var v = floats(n, seed: 3, low: 0, high: 0.01)
            var g = floats(n, seed: 4, low: -3, high: 3)
            for (i, x) in [Float(0), 1e-30, -1e30, 3e-39, 1e19].enumerated() where i < n { g[n - 1 - i] = x }
            var (p0, m0, v0) = (p, m, v)
            for i in 0..<n { step.apply(&p0[i], &m0[i], &v0[i], g[i]) }
            step.apply(p: &p, m: &m, v: &v, g: g, count: n)
            #expect(p.map(\.bitPattern) == p0.map(\.bitPattern), "p, n \(n), w1 \(w1), decay \(String(describing: decay))")
            #expect(m.map(\.bitPattern) == m0.map(\.bitPattern), "m, n \(n)")
            #expect(v.map(\.bitPattern) == v0.map(\.bitPattern), "v, n \(n)")
        }
    }

    @Test(arguments: [0, 1, 7, 8, 9, 1001])
    func sumOfSquaresInDouble(_ n: Int) {
        var x = floats(n, seed: 5, low: -2, high: 2)
        if n > 2 { x[0] = 3e19; x[1] = 1e-30 }   // float32 squares would overflow and underflow
        let ref = x.reduce(0.0) { $0 + Double($1) * Double($1) }
        let got = sumOfSquaresDouble(x, n)
        #expect(abs(got - ref) <= 1e-12 * max(ref, 1), "n \(n): \(got) vs \(ref)")
    }

    /// Pieces of segments laid end to end cover every element exactly once, each chunk's pieces
    /// are contiguous in the concatenation, and chunks are ordered.
    @Test(arguments: [1, 2, 3, 7])
    func segmentPiecesCoverEverythingOnce(chunks: Int) {
        for lengths in [[5], [0, 3, 0, 100_000, 1, 70_000], [1 << 16, 1 << 16], [], [0]] {
            let total = lengths.reduce(0, +)
            var starts = [0]
            for l in lengths { starts.append(starts.last! + l) }
            let lock = NSLock()
            var pieces: [(chunk: Int, lo: Int, hi: Int)] = []
            Parallel.forEachSegmentPiece(lengths, chunks: chunks) { c, s, r in
                #expect(r.lowerBound >= 0 && r.upperBound <= lengths[s] && !r.isEmpty)
                #expect(c >= 0 && c < chunks, "chunk \(c) of \(chunks)")
                lock.lock(); pieces.append((c, starts[s] + r.lowerBound, starts[s] + r.upperBound)); lock.unlock()
            }
            pieces.sort { ($0.lo, $0.chunk) < ($1.lo, $1.chunk) }
            var next = 0
            for p in pieces {
                #expect(p.lo == next, "gap or overlap at \(next) for \(lengths)")
                next = p.hi
            }
            #expect(next == total, "covered \(next) of \(total) for \(lengths)")
            #expect(zip(pieces, pieces.dropFirst()).allSatisfy { $0.chunk <= $1.chunk }, "chunks out of order for \(lengths)")
        }
    }
}
