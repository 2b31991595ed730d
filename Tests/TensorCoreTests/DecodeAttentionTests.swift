import Foundation
import Testing
import TensorCore

/// The decode-attention kernel and its (m, l, O) combine against float64 references.

private func uniform(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = RNG(seed: seed)
    return (0..<n).map { _ in scale * (2 * rng.nextFloat() - 1) }
}

private func grid(_ n: Int, seed: UInt64, range: Int) -> [Float] {
    var rng = RNG(seed: seed)
    return (0..<n).map { _ in Float(rng.nextInt(below: 2 * range + 1) - range) }
}

/// Softmax attention of each row in float64 from the float32 inputs, plus the scale each
/// output element's error is judged against: Σ_j w_j·|v_ji| (the weighted sum's magnitude
/// before cancellation), so the bound is a relative bound on the sum the kernel forms.
private func reference(q: [Float], k: [Float], v: [Float], rows: Int, n: Int, d: Int, scale: Float)
    -> (out: [Double], mag: [Double]) {
    var out = [Double](repeating: 0, count: rows * d), mag = out
    for r in 0..<rows {
        var s = [Double](repeating: 0, count: n)
        for j in 0..<n {
            var acc = 0.0
            for i in 0..<d { acc += Double(q[r * d + i]) * Double(k[(r * n + j) * d + i]) }
            s[j] = acc * Double(scale)
        }
        let m = s.max()!
        let w = s.map { Foundation.exp($0 - m) }
        let l = w.reduce(0, +)
        for j in 0..<n {
            for i in 0..<d {
                let x = Double(v[(r * n + j) * d + i])
                out[r * d + i] += w[j] / l * x
                mag[r * d + i] += w[j] / l * abs(x)
            }
        }
    }
    return (out, mag)
}

/// Largest |ours − ref| / (Σ w|v| + tiny) over all outputs.
private func worstRelative(_ ours: [Float], _ ref: (out: [Double], mag: [Double])) -> Double {
    var worst = 0.0
    for i in 0..<ours.count {
        let e = abs(Double(ours[i]) - ref.out[i]) / (ref.mag[i] + 1e-30)
        worst = max(worst, e.isNaN ? .infinity : e)
    }
    return worst
}

private func run(q: [Float], k: [Float], v: [Float], rows: Int, n: Int, d: Int, scale: Float, workers: Int,
                 threads: Int = 2) -> [Float] {
    var out = [Float](repeating: .nan, count: rows * d)
    q.withUnsafeBufferPointer { qb in
        k.withUnsafeBufferPointer { kb in
            v.withUnsafeBufferPointer { vb in
                out.withUnsafeMutableBufferPointer { ob in
                    decodeAttention(q: qb.baseAddress!, k: kb.baseAddress!, v: vb.baseAddress!, out: ob.baseAddress!,
                                    rows: rows, length: n, dim: d, scale: scale, workers: workers, threads: threads)
                }
            }
        }
    }
    return out
}

private let tolerance = 1e-5

@Suite struct DecodeAttentionTests {
    /// Random inputs, ragged lengths (around the 8-key block and the 512-key segment), many
    /// worker counts (including more workers than (row, key) pairs); d = 64 and 128 have their
    /// own unrolled paths, 8 and 24 exercise the generic one.
    @Test(arguments: [8, 24, 64, 128])
    func matchesFloat64Reference(d: Int) {
        let scale = 1 / Float(d).squareRoot()
        for (n, rows) in [(1, 3), (7, 3), (8, 2), (9, 3), (1000, 3), (4097, 2)] {
            let seed = UInt64(n * 1000 + d)
            let q = uniform(rows * d, seed: seed, scale: 2)
            let k = uniform(rows * n * d, seed: seed + 1, scale: 2)
            let v = uniform(rows * n * d, seed: seed + 2)
            let ref = reference(q: q, k: k, v: v, rows: rows, n: n, d: d, scale: scale)
            for workers in [1, 2, 3, 5, 8, 64] {
                let err = worstRelative(run(q: q, k: k, v: v, rows: rows, n: n, d: d, scale: scale, workers: workers), ref)
                #expect(err <= tolerance, "d=\(d) n=\(n) rows=\(rows) workers=\(workers): relative error \(err)")
            }
        }
    }

    /// Scores in the thousands (e^s overflows float32 without the running max): a row offset
    /// of ±3200 or ±6400 plus a trend that puts the maximum last (rescaling at every block),
    /// first, or in the middle, plus noise in steps of 1/8 so that hundreds of keys, spread
    /// over several workers, carry weight. Inputs are small integers and the scale a power of
    /// two, so every score is exact in float32 and the float64 reference is the exact answer.
    @Test(arguments: [64, 128])
    func extremeScores(d: Int) {
        let scale: Float = 0.125
        let n = 1000, rows = 4
        var q = [Float](repeating: 1, count: rows * d)       // noise: s += Σ_{i≥2} k_i / 8
        var k = grid(rows * n * d, seed: 7 + UInt64(d), range: 1)
        let v = uniform(rows * n * d, seed: 9 + UInt64(d))
        for r in 0..<rows {
            q[r * d] = 8                                     // s += k_0 (trend)
            q[r * d + 1] = 512                               // s += 64·k_1 (offset)
            for j in 0..<n {
                let (trend, offset): (Float, Float) = switch r {
                case 0: (0, 100)                                        // flat at +6400
                case 1: ((Float(j) / 50).rounded(.down), -100)          // rising, near −6400
                case 2: (-(Float(j) / 50).rounded(.down), 50)           // falling, near +3200
                default: (-(abs(Float(j) - 500) / 50).rounded(.down), -50)  // peak mid-row
                }
                k[(r * n + j) * d] = trend
                k[(r * n + j) * d + 1] = offset
            }
        }
        let ref = reference(q: q, k: k, v: v, rows: rows, n: n, d: d, scale: scale)
        for workers in [1, 2, 3, 7] {
            let out = run(q: q, k: k, v: v, rows: rows, n: n, d: d, scale: scale, workers: workers)
            #expect(out.allSatisfy { $0.isFinite }, "d=\(d) workers=\(workers): non-finite output")
            let err = worstRelative(out, ref)
            #expect(err <= tolerance, "d=\(d) workers=\(workers): relative error \(err)")
        }
    }

    /// The Tensor entry point: shapes, default scale 1/√d, and explicit thread counts.
    @Test func tensorAPI() {
        let (b, h, n, d) = (2, 3, 300, 64)
        let q = uniform(b * h * d, seed: 1), k = uniform(b * h * n * d, seed: 2), v = uniform(b * h * n * d, seed: 3)
        let ref = reference(q: q, k: k, v: v, rows: b * h, n: n, d: d, scale: 1 / Float(d).squareRoot())
        for threads in [1, 2, 4] {
            let out = decodeAttention(Tensor(q, shape: [b, h, d]), Tensor(k, shape: [b, h, n, d]), Tensor(v, shape: [b, h, n, d]),
                                      threads: threads)
            #expect(out.shape == [b, h, d])
            #expect(worstRelative(out.toArray(), ref) <= tolerance)
        }
    }

    /// A fixed worker count gives bit-identical results on every call, whatever the number of
    /// threads that take the ranges; so does the Tensor entry point for a fixed thread count.
    @Test func deterministicForFixedWorkers() {
        let (rows, n, d) = (3, 2049, 64)
        let q = uniform(rows * d, seed: 11), k = uniform(rows * n * d, seed: 12), v = uniform(rows * n * d, seed: 13)
        for workers in [2, 5, 8] {
            let first = run(q: q, k: k, v: v, rows: rows, n: n, d: d, scale: 0.125, workers: workers, threads: 1).map(\.bitPattern)
            for threads in [1, 2, 3, 8] {
                #expect(run(q: q, k: k, v: v, rows: rows, n: n, d: d, scale: 0.125, workers: workers, threads: threads)
                    .map(\.bitPattern) == first, "workers=\(workers) threads=\(threads)")
            }
        }
        let (tq, tk, tv) = (Tensor(q, shape: [1, rows, d]), Tensor(k, shape: [1, rows, n, d]), Tensor(v, shape: [1, rows, n, d]))
        for threads in [1, 2, 4] {
            let first = decodeAttention(tq, tk, tv, threads: threads).toArray().map(\.bitPattern)
            for _ in 0..<2 { #expect(decodeAttention(tq, tk, tv, threads: threads).toArray().map(\.bitPattern) == first) }
        }
    }

    /// The combine: identity on both sides (exactly), associativity and commutativity (to
    /// rounding), and partial(A ∪ B) = partial(A) ⊕ partial(B).
    @Test func combineLaws() {
        let d = 64, n = 900
        let q = uniform(d, seed: 21, scale: 3), k = uniform(n * d, seed: 22, scale: 3), v = uniform(n * d, seed: 23)
        func partial(_ keys: Range<Int>) -> AttentionPartial {
            var p = AttentionPartial.identity(dim: d)
            q.withUnsafeBufferPointer { qb in
                k.withUnsafeBufferPointer { kb in
                    v.withUnsafeBufferPointer { vb in
                        p.accumulate(q: qb.baseAddress!, k: kb.baseAddress!, v: vb.baseAddress!, keys: keys, scale: 0.125)
                    }
                }
            }
            return p
        }
        let a = partial(0..<100), b = partial(100..<613), c = partial(613..<900), whole = partial(0..<900)
        let id = AttentionPartial.identity(dim: d)

        #expect(AttentionPartial.combine(a, id) == a)
        #expect(AttentionPartial.combine(id, a) == a)
        #expect(AttentionPartial.combine(id, id) == id)
        #expect(partial(5..<5) == id)

        func close(_ x: AttentionPartial, _ y: AttentionPartial, _ tol: Double) -> Bool {
            let ox = x.output(), oy = y.output()
            let scale = Double(ox.map { abs($0) }.max()!)
            return zip(ox, oy).allSatisfy { abs(Double($0) - Double($1)) <= tol * scale }
                && abs(Double(x.l) * exp(Double(x.m - y.m)) - Double(y.l)) <= tol * Double(y.l)
        }
        let left = AttentionPartial.combine(AttentionPartial.combine(a, b), c)
        let right = AttentionPartial.combine(a, AttentionPartial.combine(b, c))
        #expect(close(left, right, 1e-6))
        #expect(close(AttentionPartial.combine(a, b), AttentionPartial.combine(b, a), 1e-6))
        #expect(close(left, whole, 1e-6))
        #expect(left.m == whole.m)

        // The combined state against the float64 reference for the whole row.
        let ref = reference(q: q, k: k, v: v, rows: 1, n: n, d: d, scale: 0.125)
        #expect(worstRelative(left.output(), ref) <= tolerance)
    }
}
