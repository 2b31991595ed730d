import Foundation
import Testing
import Replicate
@testable import Hilsenbek

// Hilsenbek's generative function (papers/hilsenbek/Hilsenbek/CausalReduction.swift) against a naive
// element-by-element reference written from the math, plus the causality test on every variant.
// Dimension legend: B batch, T time, C channels.

private let contexts = ContextVector.allCases
private let kinds = CausalReduction.allCases

/// The reference, in Double, one element at a time: which operand each output takes, its value,
/// and where its gradient goes. `h` is (B, T, C) row-major.
private struct NaiveReduction {
    let b: Int, t: Int, c: Int
    let h: [Double]
    let kind: CausalReduction
    let context: ContextVector

    func at(_ bi: Int, _ ti: Int, _ ci: Int) -> Double { h[(bi * t + ti) * c + ci] }

    /// The positions g_t averages at (bi, ti), or nil without context.
    func contextRange(_ ti: Int) -> Range<Int>? {
        switch context {
        case .none: return nil
        case .sequenceMean: return 0..<t
        case .prefixMean: return 0..<(ti + 1)
        }
    }

    func contextValue(_ bi: Int, _ ti: Int, _ ci: Int) -> Double? {
        contextRange(ti).map { r in r.map { at(bi, $0, ci) }.reduce(0, +) / Double(r.count) }
    }

    /// The operands in tie order: h_t, h_{t−1} (h_0 at t = 0), then g_t.
    func operands(_ bi: Int, _ ti: Int, _ ci: Int) -> [Double] {
        [at(bi, ti, ci), at(bi, Swift.max(ti - 1, 0), ci)] + (contextValue(bi, ti, ci).map { [$0] } ?? [])
    }

    /// Index of the selected operand for min/max: the first one attaining the extreme.
    func selected(_ bi: Int, _ ti: Int, _ ci: Int) -> Int? {
        let ops = operands(bi, ti, ci)
        switch kind {
        case .min: return ops.firstIndex(of: ops.min()!)
        case .max: return ops.firstIndex(of: ops.max()!)
        case .mean: return nil
        }
    }

    var forward: [Double] {
        var y = [Double](repeating: 0, count: h.count)
        for bi in 0..<b { for ti in 0..<t { for ci in 0..<c {
            let ops = operands(bi, ti, ci)
            y[(bi * t + ti) * c + ci] = selected(bi, ti, ci).map { ops[$0] } ?? ops.reduce(0, +) / Double(ops.count)
        } } }
        return y
    }

    /// dL/dh for dL/dy = `upstream`.
    func gradient(_ upstream: [Double]) -> [Double] {
        var g = [Double](repeating: 0, count: h.count)
        for bi in 0..<b { for ti in 0..<t { for ci in 0..<c {
            let u = upstream[(bi * t + ti) * c + ci]
            let own = (bi * t + ti) * c + ci, prev = (bi * t + Swift.max(ti - 1, 0)) * c + ci
            func toContext(_ share: Double) {
                guard let r = contextRange(ti) else { return }
                for s in r { g[(bi * t + s) * c + ci] += share / Double(r.count) }
            }
            if let k = selected(bi, ti, ci) {
                switch k {
                case 0: g[own] += u
                case 1: g[prev] += u
                default: toContext(u)
                }
            } else {
                let n = Double(context == .none ? 2 : 3)
                g[own] += u / n; g[prev] += u / n; toContext(u / n)
            }
        } } }
        return g
    }

    /// The smallest gap between the selected operand and any other one: finite differences
    /// with a step below half of it never cross a kink.
    var margin: Double {
        guard kind != .mean else { return .infinity }
        var m = Double.infinity
        for bi in 0..<b { for ti in 0..<t { for ci in 0..<c {
            let ops = operands(bi, ti, ci), k = selected(bi, ti, ci)!
            // At t = 0 the operands are h_0, h_0 and (prefix mean) h_0 again: they move
            // together under any perturbation, so their ties are not kinks.
            for (j, v) in ops.enumerated() where j != k {
                if ti == 0 && (j + k == 1 || context == .prefixMean) { continue }
                m = Swift.min(m, abs(v - ops[k]))
            }
        } } }
        return m
    }
}

private func randomInput(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.randn(shape, rng: &rng)
}

@Suite struct CausalReductionTests {
    @Test(arguments: kinds, contexts)
    func forwardMatchesTheNaiveReference(kind: CausalReduction, context: ContextVector) {
        let h = randomInput([2, 7, 5], seed: 11)
        let y = causalReduction(h, kind, context: context)
        #expect(y.shape == h.shape)
        let naive = NaiveReduction(b: 2, t: 7, c: 5, h: h.toArray().map(Double.init), kind: kind, context: context)
        let close = closeness(y.toArray(), naive.forward, atol: 1e-6, rtol: 1e-6)
        #expect(close.ok, "\(kind) \(context): \(close)")
        // Without context the first position is itself; the prefix mean of one row is that row
        // (exactly for min/max; the mean of three copies may round in the last bit).
        if context == .none || (context == .prefixMean && kind != .mean) {
            #expect(Array(y.toArray()[0..<5]) == Array(h.toArray()[0..<5]))
        }
    }

    @Test(arguments: kinds, contexts)
    func subGradientMatchesTheNaiveReference(kind: CausalReduction, context: ContextVector) {
        let h = randomInput([2, 6, 4], seed: 12)
        h.requiresGrad = true
        var rng = RNG(seed: 99)
        let upstream = (0..<h.count).map { _ in rng.nextFloat() * 2 - 1 }
        causalReduction(h, kind, context: context).backward(seed: upstream)
        let naive = NaiveReduction(b: 2, t: 6, c: 4, h: h.toArray().map(Double.init), kind: kind, context: context)
        let close = closeness(h.grad!.toArray(), naive.gradient(upstream.map(Double.init)), atol: 1e-6, rtol: 1e-5)
        #expect(close.ok, "\(kind) \(context): \(close)")
    }

    @Test(arguments: kinds, contexts)
    func gradCheckAwayFromKinks(kind: CausalReduction, context: ContextVector) throws {
        // Find an input whose selections are at least 3·eps from switching, so the central
        // difference measures the sub-gradient and not a jump.
        let eps: Float = 1e-2
        var found: Tensor?
        for seed in UInt64(20)..<UInt64(200) {
            let h = randomInput([2, 5, 3], seed: seed)
            let naive = NaiveReduction(b: 2, t: 5, c: 3, h: h.toArray().map(Double.init), kind: kind, context: context)
            if naive.margin > 3 * Double(eps) { found = h; break }
        }
        let h = try #require(found, "no input with a wide enough margin")
        let result = gradCheck([h], eps: eps, atol: 1e-3, rtol: 1e-2) { causalReduction($0[0], kind, context: context) }
        #expect(result.ok, "\(kind) \(context):\n\(result)")
    }

    @Test func gradCheckFailsAcrossAKink() {
        // The check can fail: with the step larger than the gap between h_1 and h_0, the central
        // difference straddles the switch of the min and disagrees with the sub-gradient.
        let h = Tensor([0.0, 0.005, 1, 2], shape: [1, 4, 1])
        let result = gradCheck([h], eps: 1e-2, atol: 1e-3, rtol: 1e-2) { causalReduction($0[0], .min) }
        #expect(!result.ok)
    }

    @Test func tiesGoToTheCurrentPosition() {
        // All positions equal: every comparison is a tie, so each y_t takes h_t and the gradient
        // of sum(y) is exactly 1 everywhere (h_0 is not counted twice).
        for kind in [CausalReduction.min, .max] {
            let h = Tensor.full([1, 4, 3], 0.5)
            h.requiresGrad = true
            causalReduction(h, kind).sum().backward()
            #expect(h.grad!.toArray() == [Float](repeating: 1, count: 12), "\(kind)")
            #expect(causalReductionSource(h, kind)!.toArray() == [Float](repeating: 0, count: 12))
        }
    }

    @Test func minSelectsTheSmallerNeighbour() {
        // h = [3, 1, 2, 5] along time: min gives [3, 1, 1, 2], max [3, 3, 2, 5].
        let h = Tensor([3, 1, 2, 5], shape: [1, 4, 1])
        #expect(causalReduction(h, .min).toArray() == [3, 1, 1, 2])
        #expect(causalReduction(h, .max).toArray() == [3, 3, 2, 5])
        #expect(causalReduction(h, .mean).toArray() == [3, 2, 1.5, 3.5])
        #expect(causalReductionSource(h, .min)!.toArray() == [0, 0, 1, 1])
        #expect(causalReductionSource(h, .max)!.toArray() == [0, 1, 0, 0])
        #expect(causalReductionSource(h, .mean) == nil)
        // The sequence mean is 2.75 everywhere; the prefix means are 3, 2, 2, 2.75.
        #expect(causalReduction(h, .max, context: .sequenceMean).toArray() == [3, 3, 2.75, 5])
        #expect(causalReductionSource(h, .max, context: .sequenceMean)!.toArray() == [0, 1, 2, 0])
        #expect(causalReduction(h, .max, context: .prefixMean).toArray() == [3, 3, 2, 5])
    }

    @Test(arguments: kinds, contexts)
    func sourceAgreesWithTheForward(kind: CausalReduction, context: ContextVector) throws {
        let h = randomInput([2, 9, 4], seed: 13)
        let y = causalReduction(h, kind, context: context).toArray()
        guard let source = causalReductionSource(h, kind, context: context)?.toArray() else {
            #expect(kind == .mean)
            return
        }
        let naive = NaiveReduction(b: 2, t: 9, c: 4, h: h.toArray().map(Double.init), kind: kind, context: context)
        for bi in 0..<2 { for ti in 0..<9 { for ci in 0..<4 {
            let i = (bi * 9 + ti) * 4 + ci
            #expect(source[i] == Float(naive.selected(bi, ti, ci)!))
            #expect(abs(Double(y[i]) - naive.operands(bi, ti, ci)[Int(source[i])]) < 1e-6)
        } } }
    }

    @Test(arguments: kinds, contexts)
    func reductionIsCausalExceptWithTheSequenceMean(kind: CausalReduction, context: ContextVector) {
        let t = 8, c = 3
        let h = randomInput([1, t, c], seed: 14)
        let base = causalReduction(h, kind, context: context).toArray()
        var leaked = false
        for cut in 0..<(t - 1) {
            var values = h.toArray()
            for i in ((cut + 1) * c)..<(t * c) { values[i] += 5 }   // raise every future value
            let y = causalReduction(Tensor(values, shape: [1, t, c]), kind, context: context).toArray()
            if Array(y[0..<((cut + 1) * c)]) != Array(base[0..<((cut + 1) * c)]) { leaked = true }
        }
        #expect(leaked == (context == .sequenceMean), "\(kind) \(context)")
    }
}

// MARK: - The paper's variants in a model

private let tiny = GPTConfig(vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8)

/// The seven variants, numbered as in issue 4.
private let variants: [(number: Int, placement: GenerativeFunctionPlacement)] = [
    (1, .none), (2, .attention(.min, .none)), (3, .attention(.max, .none)), (4, .attention(.mean, .none)),
    (5, .attention(.max, .sequenceMean)), (6, .attention(.max, .prefixMean)), (7, .activation(.min)),
]

@Suite struct GenerativeFunctionModelTests {
    @Test func causalityTestPassesForCausalVariantsAndCatchesTheLeak() {
        for (number, placement) in variants {
            let model = GPT(tiny, seed: 3, generativeFunction: placement)
            let r = causalityViolation(model)
            #expect(r.futureEffect > 0, "variant \(number): the perturbation changed nothing")
            if number == 5 {
                #expect(!r.isCausal, "variant 5 (sequence-mean context) should leak: \(r)")
                #expect(r.maxChange > 1e3 * r.tolerance, "variant 5's leak is tiny: \(r)")
            } else {
                #expect(r.isCausal, "variant \(number): \(r)")
                #expect(r.maxChange == 0, "variant \(number): \(r)")
            }
        }
    }

    @Test func parameterCountsMatchTheNotes() {
        // ../shared/papers/hilsenbek.md §1, baby config: baseline 804,096 (printed 795,904), (A)
        // 607,488 (printed 599,296; c_attn's 3C² per layer removed), (B) = baseline.
        let baby = GPTConfig(vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128)
        let base = GPT(baby, seed: 1, generativeFunction: .none)
        #expect(base.parameterCount == 804_096 && base.nonEmbeddingParameterCount == 795_904)
        for placement in [GenerativeFunctionPlacement.attention(.min, .none), .attention(.max, .sequenceMean)] {
            let a = GPT(baby, seed: 1, generativeFunction: placement)
            #expect(a.parameterCount == 607_488)
            #expect(a.nonEmbeddingParameterCount == 599_296)
            let names = a.namedParameters().map(\.0)
            #expect(!names.contains { $0.contains("c_attn") })
            #expect(names.contains("transformer.h.3.attn.c_proj.weight"))
        }
        let b = GPT(baby, seed: 1, generativeFunction: .activation(.min))
        #expect(b.parameterCount == 804_096)
        #expect(b.namedParameters().map(\.0) == base.namedParameters().map(\.0))
    }

    @Test func activationsExposeEachLayersReduction() throws {
        let ids: [Int32] = [1, 2, 3, 4, 5, 6, 7, 8]
        let a = GPT(tiny, seed: 4, generativeFunction: .attention(.min, .none))
        let acts = Dictionary(uniqueKeysWithValues: causalReductionActivations(a, ids, batch: 1, time: 8))
        for i in 0..<tiny.nLayer {
            let input = try #require(acts["transformer.h.\(i).attn.reduction_in"])
            #expect(input.shape == [1, 8, tiny.nEmbd])
            #expect(acts["transformer.h.\(i).attn.reduction_out"]!.toArray() == causalReduction(input, .min).toArray())
            let source = try #require(acts["transformer.h.\(i).attn.reduction_source"]).toArray()
            #expect(source.allSatisfy { $0 == 0 || $0 == 1 })
            #expect(source.contains(1) && source.contains(0))
        }
        // The layer-0 input is ln_1 of the embeddings, as the model computes it.
        let x = a.wte(ids, shape: [1, 8]) + a.wpe((0..<8).map { Int32($0) }, shape: [8])
        #expect(acts["transformer.h.0.attn.reduction_in"]!.toArray() == a.blocks[0].ln1(x).toArray())

        let b = GPT(tiny, seed: 4, generativeFunction: .activation(.min))
        let bActs = Dictionary(uniqueKeysWithValues: causalReductionActivations(b, ids, batch: 1, time: 8, mlpReduction: .min))
        #expect(bActs["transformer.h.1.mlp.reduction_in"]!.shape == [1, 8, 4 * tiny.nEmbd])
        #expect(bActs["transformer.h.0.attn.reduction_in"] == nil)
    }

    @Test func variantsTrain() {
        // A few AdamW steps on a repeating sequence lower the loss for every variant: the
        // sub-gradients reach the parameters.
        let ids: [Int32] = (0..<16).map { Int32($0 % 4) }
        for (number, placement) in variants {
            let model = GPT(tiny, seed: 5, generativeFunction: placement)
            let opt = AdamW(model, lr: 1e-2, weightDecay: 0)
            var losses: [Float] = []
            for _ in 0..<20 {
                let loss = model.loss(Array(ids[0..<8]) + Array(ids[4..<12]), targets: Array(ids[1..<9]) + Array(ids[5..<13]), batch: 2, time: 8)
                losses.append(loss.item())
                model.zeroGrad(); loss.backward(); opt.update()
            }
            #expect(losses.last! < losses.first! - 0.1, "variant \(number): \(losses.first!) → \(losses.last!)")
        }
    }
}
