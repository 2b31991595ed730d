import Foundation
import TensorCore

/// Owned inputs of one decode-attention problem, q (rows, d), k and v (rows, n, d), for the
/// exactness checks (tests and the replication's stage 1).
public struct DecodeInputs: Sendable {
    public var q: [Float]
    public var k: [Float]
    public var v: [Float]
    public var rows: Int
    public var n: Int
    public var d: Int
    public var scale: Float

    public init(q: [Float], k: [Float], v: [Float], rows: Int, n: Int, d: Int, scale: Float) {
        precondition(q.count == rows * d && k.count == rows * n * d && v.count == k.count, "inconsistent shapes")
        self.q = q; self.k = k; self.v = v; self.rows = rows; self.n = n; self.d = d; self.scale = scale
    }

    /// Uniform q, k in [−2, 2) and v in [−1, 1), scale 1/√d.
    public static func random(rows: Int, n: Int, d: Int, seed: UInt64) -> DecodeInputs {
        var rng = RNG(seed: seed)
        func u(_ c: Int, _ s: Float) -> [Float] { (0..<c).map { _ in s * (2 * rng.nextFloat() - 1) } }
        let q = u(rows * d, 2), k = u(rows * n * d, 2), v = u(rows * n * d, 1)
        return DecodeInputs(q: q, k: k, v: v, rows: rows, n: n, d: d, scale: 1 / Float(d).squareRoot())
    }

    /// Scores in the thousands, exact in float32: integer q and k, scale 1/8. Per row (cycling
    /// over four patterns) an offset of +6400, −6400, +3200 or −3200 (e^s overflows float32
    /// without the running max) plus a trend that keeps the maximum flat, puts it last (a
    /// rescale at every tile), first, or in the middle; integer noise in {−1, 0, 1}/8 per
    /// other dimension keeps hundreds of keys in play across several tiles.
    public static func extreme(rows: Int, n: Int, d: Int, seed: UInt64) -> DecodeInputs {
        precondition(d >= 2, "need d ≥ 2")
        var rng = RNG(seed: seed)
        var q = [Float](repeating: 1, count: rows * d)
        var k = (0..<(rows * n * d)).map { _ in Float(rng.nextInt(below: 3) - 1) }
        let v = (0..<(rows * n * d)).map { _ in 2 * rng.nextFloat() - 1 }
        for r in 0..<rows {
            q[r * d] = 8; q[r * d + 1] = 512
            for j in 0..<n {
                let (trend, offset): (Float, Float) = switch r % 4 {
                case 0: (0, 100)
                case 1: ((Float(j) / 50).rounded(.down), -100)
                case 2: (-(Float(j) / 50).rounded(.down), 50)
                default: (-(abs(Float(j) - Float(n / 2)) / 50).rounded(.down), -50)
                }
                k[(r * n + j) * d] = trend
                k[(r * n + j) * d + 1] = offset
            }
        }
        return DecodeInputs(q: q, k: k, v: v, rows: rows, n: n, d: d, scale: 0.125)
    }

    public func withProblem<R>(tileTokens: Int? = nil, _ body: (DecodeProblem) -> R) -> R {
        q.withUnsafeBufferPointer { qb in
            k.withUnsafeBufferPointer { kb in
                v.withUnsafeBufferPointer { vb in
                    body(DecodeProblem(q: qb.baseAddress!, k: kb.baseAddress!, v: vb.baseAddress!, rows: rows, length: n,
                                       dim: d, scale: scale, tileTokens: tileTokens))
                }
            }
        }
    }

    /// Kernel 1: the float64 reference and the error scale Σ p|v| of every output.
    public var reference: (out: [Double], mag: [Double]) { withProblem { referenceDecodeAttention($0) } }

    /// max |scale·q·k_j| over all rows and keys.
    public var maxAbsScore: Double {
        var worst = 0.0
        for r in 0..<rows {
            for j in 0..<n {
                var s = 0.0
                for i in 0..<d { s += Double(q[r * d + i]) * Double(k[(r * n + j) * d + i]) }
                worst = Swift.max(worst, Swift.abs(s * Double(scale)))
            }
        }
        return worst
    }

    /// Run kernel 2 (fa2), 3 (flashDecoding) or 4 (lean) on `pool`; the output starts as NaN
    /// so that unwritten rows show.
    public func run(_ kernel: AttentionKernel, pool: WorkerPool, tileTokens: Int? = nil, splits: Int? = nil,
                    scratch: LeanScratch? = nil) -> [Float] {
        var out = [Float](repeating: .nan, count: rows * d)
        withProblem(tileTokens: tileTokens) { p in
            out.withUnsafeMutableBufferPointer { ob in
                switch kernel {
                case .fa2: fa2DecodeAttention(p, out: ob.baseAddress!, pool: pool)
                case .flashDecoding: flashDecodingAttention(p, out: ob.baseAddress!, pool: pool, splits: splits)
                case .lean: leanDecodeAttention(p, out: ob.baseAddress!, pool: pool, scratch: scratch)
                }
            }
        }
        return out
    }
}

/// Largest relative error of `out` against a `reference` (see `maxRelativeError`).
public func relativeError(_ out: [Float], _ ref: (out: [Double], mag: [Double]), dim d: Int) -> Double {
    out.withUnsafeBufferPointer { maxRelativeError($0.baseAddress!, ref, dim: d) }
}
