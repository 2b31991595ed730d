import Foundation
import Testing
import LeanAttention
import TensorCore

/// The softmax re-scaling operator (m, l, O) ⊕ (m, l, O), in the form LeanAttention's hosts use
/// (TensorCore's `AttentionPartial`/`attentionCombine`) and in the LSE form of FlashDecoding's
/// combine pass (`lseCombine`).
@Suite struct CombineTests {
    /// Partials of consecutive key segments of one row, and the row's float64 reference.
    func segments(_ cuts: [Int], d: Int, seed: UInt64, extreme: Bool = false) -> (parts: [AttentionPartial], ref: (out: [Double], mag: [Double])) {
        let n = cuts.last!
        let x = extreme ? Inputs.extreme(rows: 1, n: n, d: d, seed: seed) : Inputs.random(rows: 1, n: n, d: d, seed: seed)
        var parts: [AttentionPartial] = []
        x.q.withUnsafeBufferPointer { q in
            x.k.withUnsafeBufferPointer { k in
                x.v.withUnsafeBufferPointer { v in
                    for i in 0..<(cuts.count - 1) {
                        var p = AttentionPartial.identity(dim: d)
                        p.accumulate(q: q.baseAddress!, k: k.baseAddress!, v: v.baseAddress!, keys: cuts[i]..<cuts[i + 1], scale: x.scale)
                        parts.append(p)
                    }
                }
            }
        }
        return (parts, x.reference)
    }

    func error(_ p: AttentionPartial, _ ref: (out: [Double], mag: [Double])) -> Double {
        relativeError(p.output(), ref, d: p.dim)
    }

    /// (a ⊕ b) ⊕ c and a ⊕ (b ⊕ c) both equal the whole row's attention to float32 rounding,
    /// for unequal segments, random and extreme scores (maximum in any of the three).
    @Test(arguments: [false, true])
    func associative(extreme: Bool) {
        for (i, cuts) in [[0, 1, 2, 3], [0, 100, 101, 700], [0, 300, 600, 900], [0, 5, 850, 1000]].enumerated() {
            let (p, ref) = segments(cuts, d: 64, seed: UInt64(10 + i), extreme: extreme)
            let left = AttentionPartial.combine(AttentionPartial.combine(p[0], p[1]), p[2])
            let right = AttentionPartial.combine(p[0], AttentionPartial.combine(p[1], p[2]))
            let swapped = AttentionPartial.combine(p[2], AttentionPartial.combine(p[1], p[0]))
            #expect(error(left, ref) <= 1e-5 && error(right, ref) <= 1e-5 && error(swapped, ref) <= 1e-5,
                    "cuts \(cuts): errors \(error(left, ref)), \(error(right, ref)), \(error(swapped, ref))")
            #expect(left.m == right.m && left.m == swapped.m)
            #expect(abs(left.l - right.l) <= 1e-5 * left.l)
        }
    }

    /// The identity (−∞, 0, 0) changes nothing on either side, bit for bit, and e ⊕ e = e
    /// without NaN (no e^{−∞ − (−∞)} is formed).
    @Test func identity() {
        let (p, _) = segments([0, 37, 100], d: 128, seed: 3)
        let e = AttentionPartial.identity(dim: 128)
        #expect(AttentionPartial.combine(e, p[0]) == p[0])
        #expect(AttentionPartial.combine(p[1], e) == p[1])
        let ee = AttentionPartial.combine(e, e)
        #expect(ee.m == -.infinity && ee.l == 0 && ee.o.allSatisfy { $0 == 0 })
    }

    /// A piece whose scores are all far below the others' maximum contributes e^{−huge}·l = 0,
    /// not NaN; its merge with the dominant piece gives the dominant piece's output.
    @Test func underflowingPiece() {
        let d = 8
        let big = AttentionPartial(m: 5000, l: 2, o: (0..<d).map { Float($0) })
        let tiny = AttentionPartial(m: -5000, l: 3, o: [Float](repeating: 7, count: d))
        for r in [AttentionPartial.combine(big, tiny), AttentionPartial.combine(tiny, big)] {
            #expect(r.m == 5000 && r.l == 2)
            #expect(r.output() == big.output())
        }
    }

    /// LSE form: a piece with lse = −∞ (empty) drops out; all pieces empty gives 0 and L = +∞
    /// (not NaN); the LSE merge of normalised pieces equals the (m, l, O) merge.
    @Test func lseGuardsAndEquivalence() {
        let d = 64
        let (p, ref) = segments([0, 200, 201, 640], d: d, seed: 5)
        var lse = p.map { $0.m + log($0.l) }
        var o = p.flatMap { $0.output() }
        var out = [Float](repeating: .nan, count: d)
        lseCombine(lse: lse, lseStride: 1, o: o, oStride: d, count: 3, dim: d, out: &out)
        let viaML = p.dropFirst().reduce(p[0]) { AttentionPartial.combine($0, $1) }
        #expect(relativeError(out, ref, d: d) <= 1e-5)
        #expect(relativeError(viaML.output(), ref, d: d) <= 1e-5)

        // Append an empty piece (−∞, Ô = 0): same result.
        lse.append(-.infinity); o += [Float](repeating: 0, count: d)
        var out2 = [Float](repeating: .nan, count: d)
        lseCombine(lse: lse, lseStride: 1, o: o, oStride: d, count: 4, dim: d, out: &out2)
        #expect(out2 == out)

        // Every piece empty.
        let none = [Float](repeating: -.infinity, count: 3), zeros = [Float](repeating: 0, count: 3 * d)
        var out3 = [Float](repeating: .nan, count: d)
        let total = lseCombine(lse: none, lseStride: 1, o: zeros, oStride: d, count: 3, dim: d, out: &out3)
        #expect(total == .infinity)
        #expect(out3.allSatisfy { $0 == 0 })

        // Huge lse values: no overflow (the max is subtracted first).
        var out4 = [Float](repeating: .nan, count: d)
        let shifted = lse.map { $0 + 100 }         // e^{100} overflows float32
        lseCombine(lse: shifted, lseStride: 1, o: o, oStride: d, count: 4, dim: d, out: &out4)
        #expect(out4.allSatisfy { $0.isFinite })
        #expect(zip(out4, out).allSatisfy { abs($0 - $1) <= 1e-4 })
    }
}
