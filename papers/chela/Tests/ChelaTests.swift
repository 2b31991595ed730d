import Foundation
import Testing
import Replicate
@testable import Chela

// ListOps' label rules on hand-computed expressions and the generator's invariants, MQAR's
// construction, the generated-data file (round trip, damage, tampering), the four models'
// causality and gradients, the float64 references, and the structural reparameterisation.

private func tree(_ op: ListOp, _ children: ListOpsTree...) -> ListOpsTree { .apply(op, children) }
private func v(_ x: Int) -> ListOpsTree { .value(x) }

@Suite struct ListOpsTests {
    @Test func labelsOfHandComputedExpressions() {
        // [MAX 2 9 [MIN 4 7 ] 0 ] = max(2, 9, 4, 0) = 9
        #expect(tree(.max, v(2), v(9), tree(.min, v(4), v(7)), v(0)).label == 9)
        // [MED 1 2 3 4 ] = int(median) = int(2.5) = 2; [MED 7 1 5 ] = 5; [MED 9 8 ] = int(8.5) = 8
        #expect(tree(.med, v(1), v(2), v(3), v(4)).label == 2)
        #expect(tree(.med, v(7), v(1), v(5)).label == 5)
        #expect(tree(.med, v(9), v(8)).label == 8)
        // [SM 5 7 9 ] = 21 mod 10 = 1; [SM 0 0 ] = 0
        #expect(tree(.sm, v(5), v(7), v(9)).label == 1)
        #expect(tree(.sm, v(0), v(0)).label == 0)
        // [MIN [MAX 3 8 ] [SM 9 9 ] 6 ] = min(8, 8, 6) = 6
        let e = tree(.min, tree(.max, v(3), v(8)), tree(.sm, v(9), v(9)), v(6))
        #expect(e.label == 6)
        #expect(e.tokens == ["[MIN", "[MAX", "3", "8", "X", "[SM", "9", "9", "X", "6", "X"])
        #expect(e.length == e.tokens.count)
    }

    @Test func vocabularyIsS4s18Tokens() {
        #expect(ListOpsVocabulary.tokens.count == 18)
        let ids = ListOpsVocabulary.encode(["[SM", "3", "X"])
        #expect(ids.last == ListOpsVocabulary.eos)
        #expect(ids.allSatisfy { $0 != 1 })   // no <unk>
    }

    @Test func generatorKeepsDistinctTreesInsideTheWindowWithTheirLabels() {
        var c = ListOpsConfig(); c.train = 60; c.val = 10; c.test = 10; c.minLength = 20; c.maxLength = 80
        let s = generateListOps(c)
        var seen = Set<[Int32]>()
        for set in [s.train, s.val, s.test] {
            for i in 0..<set.count {
                let n = set.lengths[i] - 1                                   // without <eos>
                #expect(n > c.minLength && n < c.maxLength)
                let row = Array(set.tokens[(i * set.width)..<(i * set.width + set.lengths[i])])
                #expect(row.last == ListOpsVocabulary.eos)
                #expect(seen.insert(row).inserted, "duplicate expression")
                #expect(set.labels[i] == Int32(evaluate(row.dropLast().map { ListOpsVocabulary.tokens[Int($0)] })))
            }
        }
        #expect(s.drawn > 80)
    }

    /// Evaluates a token sequence with a stack, independently of the tree type.
    private func evaluate(_ tokens: [String]) -> Int {
        var stack: [(op: String, args: [Int])] = [], result = -1
        for t in tokens {
            if t.hasPrefix("[") { stack.append((t, [])) }
            else if t == "X" {
                let (op, a) = stack.removeLast()
                let s = a.sorted()
                let r: Int
                switch op {
                case "[MIN": r = s.first!
                case "[MAX": r = s.last!
                case "[MED": r = s.count % 2 == 1 ? s[s.count / 2] : Int((Double(s[s.count / 2 - 1]) + Double(s[s.count / 2])) / 2)
                default: r = a.reduce(0, +) % 10
                }
                if stack.isEmpty { result = r } else { stack[stack.count - 1].args.append(r) }
            } else if stack.isEmpty { result = Int(t)! } else { stack[stack.count - 1].args.append(Int(t)!) }
        }
        return result
    }

    @Test func generatorIsDeterministicAndSeeded() {
        var c = ListOpsConfig(); c.train = 30; c.val = 5; c.test = 5; c.minLength = 10; c.maxLength = 60
        #expect(generateListOps(c) == generateListOps(c))
        var d = c; d.seed += 1
        #expect(generateListOps(d).train != generateListOps(c).train)
    }

    @Test func batchesPadToMultiplesOf64WithinTheSetsWidth() {
        let s = SequenceSet(rows: [[3, 4, 5], Array(repeating: 7, count: 70)], labels: [1, 2], width: 100)
        #expect(s.batch([0]).width == 64)
        #expect(s.batch([0, 1]).width == 100)
        #expect(s.batch([1, 0]).labels == [2, 1])
        #expect(Array(s.batch([0]).tokens.prefix(4)) == [3, 4, 5, 0])
    }
}

@Suite struct MQARTests {
    @Test func everyKeyIsAskedOnceAndItsTargetIsItsValue() {
        var c = MQARConfig(); c.vocab = 64; c.pairs = 8; c.length = 96
        var rng = RNG(seed: 3)
        for _ in 0..<50 {
            let (tokens, targets) = mqarSequence(c, rng: &rng)
            #expect(tokens.count == c.length && targets.count == c.length)
            var pairs: [Int32: Int32] = [:]
            for i in 0..<c.pairs {
                let k = tokens[2 * i], val = tokens[2 * i + 1]
                #expect(k >= 1 && k < 32 && val >= 32 && val < 64)
                #expect(pairs[k] == nil, "keys are distinct")
                pairs[k] = val
                #expect(targets[2 * i] == -1 && targets[2 * i + 1] == -1)
            }
            var asked: Set<Int32> = []
            for t in (2 * c.pairs)..<c.length {
                if targets[t] >= 0 {
                    #expect((t - 2 * c.pairs) % 2 == 0)
                    #expect(pairs[tokens[t]] == targets[t])
                    #expect(asked.insert(tokens[t]).inserted)
                } else {
                    #expect(tokens[t] == 0)
                }
            }
            #expect(asked.count == c.pairs)
        }
    }

    @Test func shortGapsAreMoreCommonThanLongOnes() {
        var c = MQARConfig(); c.vocab = 64; c.pairs = 4; c.length = 1024
        var rng = RNG(seed: 5)
        var early = 0, late = 0
        for _ in 0..<200 {
            let (_, targets) = mqarSequence(c, rng: &rng)
            for t in 8..<c.length where targets[t] >= 0 { if t < 8 + 100 { early += 1 } else if t >= c.length - 100 { late += 1 } }
        }
        #expect(early > 3 * late, "early \(early), late \(late)")
    }

    @Test func generatorIsDeterministic() {
        var c = MQARConfig(); c.train = 20; c.test = 5; c.vocab = 32; c.pairs = 4; c.length = 32
        #expect(generateMQAR(c) == generateMQAR(c))
        var d = c; d.seed = 9
        #expect(generateMQAR(d) != generateMQAR(c))
    }
}

@Suite struct DataFileTests {
    private func withRun(_ body: (Provenance, String) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("chela-data-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try body(Provenance.current(seeds: [1], threads: 1, root: dir), dir + "/data/mqar.h5")
    }

    private func splits(seed: UInt64 = 1) -> [(name: String, set: SequenceSet)] {
        var c = MQARConfig(); c.train = 12; c.test = 4; c.vocab = 32; c.pairs = 4; c.length = 32; c.seed = seed
        let s = generateMQAR(c)
        return [("train", s.train), ("test", s.test)]
    }

    @Test func roundTripAndResume() throws {
        try withRun { run, path in
            let a = try storeSplits(splits(), generator: "MQAR", configJSON: "{}", seed: 1, to: path, runConfig: "{}", provenance: run)
            #expect(a == splits().map(\.set))
            let b = try storeSplits(splits(), generator: "MQAR", configJSON: "{}", seed: 1, to: path, runConfig: "{}", provenance: run)   // the resume path
            #expect(b == a)
            let f = try H5File.open(path)
            #expect(try f.shape(of: "train/tokens") == [12, 32])
            #expect(try f.stringAttribute("generator") == "MQAR")
            try f.close()
        }
    }

    @Test func aTruncatedFileIsAClearError() throws {
        try withRun { run, path in
            _ = try storeSplits(splits(), generator: "MQAR", configJSON: "{}", seed: 1, to: path, runConfig: "{}", provenance: run)
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
            #expect { _ = try storeSplits(splits(), generator: "MQAR", configJSON: "{}", seed: 1, to: path, runConfig: "{}", provenance: run) } throws: {
                "\($0)".contains("is damaged") && "\($0)".contains(path)
            }
        }
    }

    @Test func anotherConfigOrChangedContentIsRefused() throws {
        try withRun { run, path in
            _ = try storeSplits(splits(), generator: "MQAR", configJSON: "{}", seed: 1, to: path, runConfig: "{}", provenance: run)
            #expect { _ = try storeSplits(splits(), generator: "MQAR", configJSON: "{\"a\":1}", seed: 1, to: path, runConfig: "{}", provenance: run) } throws: {
                "\($0)".contains("another MQAR config or seed")
            }
            // Same attributes, other content (as if edited): the regenerated data disagrees.
            #expect { _ = try storeSplits(splits(seed: 2), generator: "MQAR", configJSON: "{}", seed: 1, to: path, runConfig: "{}", provenance: run) } throws: {
                "\($0)".contains("differs from what the MQAR generator gives")
            }
        }
    }
}

private func smallConfig() -> ModelConfig {
    var c = ModelConfig()
    c.dModel = 8; c.zDim = 4; c.hDim = 6; c.ffWidth = 10; c.layers = 2; c.heads = 2; c.shortKernels = [2, 3]; c.chunkSize = 3
    c.longKernelStd = 0.3
    return c
}

@Suite struct ModelTests {
    @Test(arguments: ModelKind.allCases)
    func modelsAreCausal(_ kind: ModelKind) {
        let model = SequenceModel(kind: kind, vocab: 11, outputs: 5, maxLength: 20, config: smallConfig(), seed: 1)
        let r = causalityViolation(vocabSize: 11, time: 20) { ids, b, t in model.hidden(ids, batch: b, length: t) }
        #expect(r.isCausal, "\(kind): \(r)")
        #expect(r.futureEffect > 0, "\(kind): the perturbation never reached the outputs")
    }

    @Test(arguments: [(true, ConvStage.shortLong), (false, .shortLong), (false, .long), (false, .longRegularised), (true, .longRegularised)])
    func gatedBlockGradients(_ attention: Bool, _ stage: ConvStage) {
        var c = smallConfig(); c.squashLambda = 0.05; c.smoothWindow = 3
        var rng = RNG(seed: 4)
        let block = GatedConvBlock(attention: attention, stage: stage, maxLength: 9, config: c, rng: &rng)
        // Keep the kernel away from the squash's kinks at ±λ, where central differences straddle them.
        block.conv.longKernel.assign(block.conv.longKernel.toArray().map { abs(abs($0) - 0.05) < 0.03 ? $0 + ($0 < 0 ? -0.06 : 0.06) : $0 })
        let x = Tensor.randn([2, 7, 8], rng: &rng)
        let r = gradCheck([x] + block.parameters(), eps: 1e-2, atol: 2e-3, rtol: 2e-2) { _ in block(x) }
        #expect(r.ok, "\(attention) \(stage):\n\(r)")
    }

    @Test(arguments: [AttentionBlock.Kind.softmax, .linear(.cumsum), .linear(.chunked)])
    func attentionBlockGradients(_ kind: AttentionBlock.Kind) {
        var rng = RNG(seed: 5)
        let block = AttentionBlock(kind, config: smallConfig(), rng: &rng)
        let x = Tensor.randn([2, 5, 8], rng: &rng)
        let r = gradCheck([x] + block.parameters(), eps: 1e-2, atol: 2e-3, rtol: 2e-2) { _ in block(x) }
        #expect(r.ok, "\(kind):\n\(r)")
    }

    @Test func cumsumAndChunkedLinearAttentionAgree() {
        var rng = RNG(seed: 6)
        let q = Tensor.randn([3, 37, 5], rng: &rng), k = Tensor.randn([3, 37, 5], rng: &rng), v = Tensor.randn([3, 37, 4], rng: &rng)
        let a = cumsumLinearAttention(q: q, k: k, v: v).toArray()
        for chunk in [1, 7, 64] {
            let b = causalLinearAttention(q: q, k: k, v: v, chunkSize: chunk).toArray()
            let scale = a.map(abs).max()!
            #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * scale }, "chunk \(chunk)")
        }
        // The CHELA block gives the same numbers in either form.
        var r2 = RNG(seed: 7)
        let block = GatedConvBlock(attention: true, stage: .shortLong, maxLength: 40, config: smallConfig(), rng: &r2)
        let x = Tensor.randn([2, 40, 8], rng: &r2)
        let chunked = block(x).toArray()
        block.linearForm = .cumsum
        let cumsum = block(x).toArray()
        #expect(zip(chunked, cumsum).allSatisfy { abs($0 - $1) <= 1e-5 })
    }

    @Test(arguments: ConvStage.allCases)
    func reparameterisedModelGivesTheSameLogits(_ stage: ConvStage) {
        var c = smallConfig(); c.shortKernels = [3, 5, 2]
        for kind in [ModelKind.chela, .longconv] {
            let model = SequenceModel(kind: kind, vocab: 11, outputs: 5, maxLength: 30, config: c, stage: stage, seed: 2)
            let merged = model.reparameterised()
            let blocks = merged.blocks.compactMap { $0 as? GatedConvBlock }
            #expect(blocks.allSatisfy { $0.conv.shortKernels.count <= 1 && $0.conv.skip.toArray().allSatisfy { $0 == 0 } })
            if stage == .shortLong { #expect(blocks.allSatisfy { $0.conv.shortKernels.first?.shape == [8, 5] }) }
            var rng = RNG(seed: 3)
            let set = SequenceSet(rows: (0..<3).map { _ in (0..<(20 + rng.nextInt(below: 10))).map { _ in Int32(rng.nextInt(below: 11)) } },
                                  labels: [0, 1, 2], width: 30)
            let a = noGrad { model.classify(set.batch([0, 1, 2])) }.toArray(), b = noGrad { merged.classify(set.batch([0, 1, 2])) }.toArray()
            let scale = a.map(abs).max()!
            #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * max(scale, 1) }, "\(kind) \(stage): \(a) vs \(b)")
        }
    }

    @Test func squashAndSmoothFollowTheirDefinitions() {
        var c = smallConfig(); c.squashLambda = 0.1; c.smoothWindow = 3
        var rng = RNG(seed: 8)
        let conv = ConvModule(channels: 2, maxLength: 6, stage: .longRegularised, config: c, rng: &rng)
        conv.longKernel.assign([0.5, -0.05, -0.3, 0.2, 0.0, 1.0, 0, 0, 0, 0, 0, 0])
        let k = conv.effectiveLongKernel(6).toArray()
        let squashed: [Float] = [0.4, 0, -0.2, 0.1, 0, 0.9]
        let smoothed: [Float] = (0..<6).map { (i: Int) -> Float in
            let window: [Float] = (max(0, i - 1)...min(5, i + 1)).map { squashed[$0] }
            return window.reduce(0, +) / 3
        }
        #expect(zip(k.prefix(6), smoothed).allSatisfy { abs($0 - $1) < 1e-6 }, "\(k)")
        #expect(k.suffix(6).allSatisfy { $0 == 0 })
        #expect(conv.effectiveLongKernel(4).shape == [2, 4])
    }

    @Test func recallLogitsAreTheQueryPositions() {
        let model = SequenceModel(kind: .chela, vocab: 16, outputs: 16, maxLength: 12, config: smallConfig(), seed: 1)
        let set = SequenceSet(tokens: (0..<24).map { Int32($0 % 16) }, lengths: [12, 12],
                              labels: [-1, -1, 9, -1, -1, -1, -1, -1, -1, -1, -1, 3, -1, 4, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1], width: 12)
        let (logits, targets) = noGrad { model.recallLogits(set) }
        #expect(logits.shape == [3, 16] && targets == [9, 3, 4])
        let h = noGrad { model.head(model.hidden(set.tokens, batch: 2, length: 12)) }
        #expect(Array(logits.toArray()[16..<32]) == Array(h.toArray()[(11 * 16)..<(12 * 16)]))
    }
}

@Suite struct ReferenceTests {
    @Test func threeFormsOfLinearAttentionAndTwoOfConvolutionAgreeInFloat64() {
        var rng = RNG(seed: 9)
        let (l, d, dv) = (53, 4, 3)
        let q = (0..<(l * d)).map { _ in Double(rng.nextNormal()) }, k = (0..<(l * d)).map { _ in Double(rng.nextNormal()) }
        let v = (0..<(l * dv)).map { _ in Double(rng.nextNormal()) }
        let r = recurrentLinearAttention64(q, k, v, l: l, d: d, dv: dv)
        for o in [quadraticLinearAttention64(q, k, v, l: l, d: d, dv: dv)] + [1, 7, 64, 53].map({ chunkedLinearAttention64(q, k, v, l: l, d: d, dv: dv, chunk: $0) }) {
            #expect(zip(o, r).allSatisfy { abs($0 - $1) <= 1e-12 * 100 })
        }
        let x = (0..<l).map { _ in Double(rng.nextNormal()) }, kernel = (0..<l).map { _ in Double(rng.nextNormal()) }
        let direct = directCausalConv64(x, kernel: kernel)
        #expect(zip(spectralCausalConv64(x, kernel: kernel), direct).allSatisfy { abs($0 - $1) <= 1e-11 })
        // Hand-computed: x = (1, 2, 3), kernel = (1, 10, 100) → (1, 12, 123).
        #expect(directCausalConv64([1, 2, 3], kernel: [1, 10, 100]) == [1, 12, 123])
        #expect(zip(spectralCausalConv64([1, 2, 3], kernel: [1, 10, 100]), [1, 12, 123]).allSatisfy { abs($0 - $1) < 1e-12 })
    }
}
