import Foundation
import Testing
@testable import LeanAttention
import TensorCore

private let tolerance = 1e-5

/// Kernels 2–4 against the float64 reference (kernel 1): relative error per output, judged
/// against Σ_j p_j|v_j| (the size of the weighted sum before cancellation).
@Suite struct KernelTests {
    /// Every kernel, every worker count G = 1…64, all heads: the LeanTile sizes of the paper and
    /// 16-token tiles (so that 64 workers split heads many ways), ragged N, d 64 and 128.
    @Test(arguments: [Kernel.fa2, .flashDecoding, .lean])
    func everyWorkerCount(kernel: Kernel) {
        let cases: [(x: Inputs, tile: Int?)] = [
            (Inputs.random(rows: 3, n: 1000, d: 64, seed: 1), nil),      // nb 4, T 12
            (Inputs.random(rows: 5, n: 777, d: 128, seed: 2), nil),      // nb 7, T 35
            (Inputs.random(rows: 3, n: 1000, d: 64, seed: 3), 16),       // nb 63, T 189
            (Inputs.random(rows: 2, n: 333, d: 128, seed: 4), 16),       // nb 21, T 42
        ]
        for (x, tile) in cases {
            let ref = x.reference
            for g in 1...64 {
                let err = relativeError(run(kernel, x, pool: pool(g), tileTokens: tile), ref, d: x.d)
                #expect(err <= tolerance, "\(kernel) rows \(x.rows) N \(x.n) d \(x.d) tile \(tile ?? 0) G \(g): \(err)")
            }
        }
    }

    /// N around tile boundaries (N < tile, N = tile ± 1, odd N), several G.
    @Test(arguments: [64, 128])
    func raggedLengths(d: Int) {
        let bn = leanTileTokens(headDim: d)
        for n in [1, 7, bn - 1, bn, bn + 1, 2 * bn + 3, 1000, 4097] {
            let x = Inputs.random(rows: 3, n: n, d: d, seed: UInt64(n + d))
            let ref = x.reference
            for g in [1, 2, 3, 5, 16, 64] {
                for kernel in Kernel.allCases {
                    let err = relativeError(run(kernel, x, pool: pool(g)), ref, d: d)
                    #expect(err <= tolerance, "\(kernel) N \(n) d \(d) G \(g): \(err)")
                }
            }
        }
    }

    /// Scores in the thousands (e^s overflows float32 without the running max), maxima at the
    /// end, start, middle, or flat, exact in float32: every kernel, G = 1…64, 16-token tiles.
    ///
    /// FA2 and LeanAttention (whose hosts merge (m, l, O) with m kept apart) stay within 1e-5.
    /// FlashDecoding's combine works in LSE form, lse = m + ln l in float32, which rounds to
    /// ulp(|lse|) (4.9e-4 at |s| ≈ 6400): each piece's weight e^{lse_i − L} is then off by up to
    /// that much, so its bound is ulp(max|lse|) instead. At moderate scores (the other tests) it
    /// meets 1e-5 like the others.
    @Test(arguments: [64, 128])
    func extremeScores(d: Int) {
        let x = Inputs.extreme(rows: 4, n: 1000, d: d, seed: 7 + UInt64(d))
        let ref = x.reference
        let lseBound = Double(Float(x.maxAbsScore + Foundation.log(Double(x.n))).ulp)
        var worstFD = 0.0
        for g in 1...64 {
            for kernel in Kernel.allCases {
                let out = run(kernel, x, pool: pool(g), tileTokens: 16)
                #expect(out.allSatisfy { $0.isFinite }, "\(kernel) d \(d) G \(g): non-finite output")
                let err = relativeError(out, ref, d: d)
                if kernel == .flashDecoding {
                    worstFD = max(worstFD, err)
                    #expect(err <= lseBound, "\(kernel) d \(d) G \(g): \(err) > ulp bound \(lseBound)")
                } else {
                    #expect(err <= tolerance, "\(kernel) d \(d) G \(g): \(err)")
                }
            }
        }
        // The LSE rounding is real (not a bug elsewhere): FlashDecoding does exceed 1e-5 here.
        #expect(worstFD > tolerance)
        #expect(lseBound > 1e-4 && lseBound < 1e-3)
    }

    /// More workers than tiles (T = 2, G = 64): 62 workers idle, still exact.
    @Test func moreWorkersThanTiles() {
        let x = Inputs.random(rows: 1, n: 20, d: 64, seed: 11)
        let err = relativeError(run(.lean, x, pool: pool(64), tileTokens: 16), x.reference, d: 64)
        #expect(err <= tolerance)
    }

    /// FlashDecoding with forced split counts that leave empty pieces (lse = −∞): exact, finite.
    @Test func flashDecodingEmptyPieces() {
        let x = Inputs.random(rows: 3, n: 80, d: 64, seed: 12)                 // 5 tiles of 16
        let ref = x.reference
        for splits in [1, 2, 4, 5, 8, 16] {
            for g in [1, 2, 3] {
                let out = run(.flashDecoding, x, pool: pool(g), tileTokens: 16, splits: splits)
                #expect(out.allSatisfy { $0.isFinite })
                #expect(relativeError(out, ref, d: 64) <= tolerance, "splits \(splits) G \(g)")
            }
        }
    }

    /// The partials LeanAttention's non-host workers publish are exactly the (m, l, O) of their
    /// first segment (same inner loop, bit for bit), there are Σ_h (splits_h − 1) of them, and
    /// merging them into the host's piece reproduces the output.
    @Test func publishedPartials() {
        let x = Inputs.random(rows: 3, n: 500, d: 64, seed: 13)
        for g in [2, 5, 7, 19] {
            let scratch = LeanScratch(workers: g, dim: 64)
            let out = run(.lean, x, pool: pool(g), tileTokens: 16, scratch: scratch)
            let sched = LeanSchedule(tilesPerHead: 32, heads: 3, workers: g)
            var published = 0
            x.withProblem(tileTokens: 16) { p in
                for w in 0..<g {
                    guard let (head, part) = scratch.published(by: w) else { continue }
                    published += 1
                    let seg = sched.segments(w)[0]
                    #expect(seg.head == head && !seg.isHost)
                    var m: Float = 0, l: Float = 0
                    var o = [Float](repeating: 0, count: 64)
                    o.withUnsafeMutableBufferPointer { p.partial(row: head, keys: p.tokens(seg.tiles), m: &m, l: &l, o: $0.baseAddress!) }
                    #expect(part == AttentionPartial(m: m, l: l, o: o))
                }
            }
            #expect(published == (0..<3).map { sched.splits(ofHead: $0) - 1 }.reduce(0, +))
            #expect(relativeError(out, x.reference, d: 64) <= tolerance)
        }
    }

    /// A fixed G gives bit-identical outputs on every call (fixed reduction order), for Lean and
    /// FlashDecoding, even though rows and pieces are handed out dynamically.
    @Test func deterministicForFixedG() {
        let x = Inputs.random(rows: 4, n: 3000, d: 128, seed: 14)
        for g in [2, 3, 13] {
            #expect(run(.lean, x, pool: pool(g)) == run(.lean, x, pool: pool(g)))
            #expect(run(.flashDecoding, x, pool: pool(g)) == run(.flashDecoding, x, pool: pool(g)))
        }
    }
}
