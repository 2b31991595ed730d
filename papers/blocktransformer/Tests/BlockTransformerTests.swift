import Foundation
import Testing
import NN
import Replicate
@testable import BlockTransformer

// The block model's causality (tokens and blocks), its gradients, its random left padding,
// KV-cached generation against re-running the model without caches (both models, every block
// length, prompts off the block boundary), and the caches' bytes against the formulas.

private func tinyConfig(blockLength: Int = 4, prefix: Int = 2, maxContext: Int = 64) -> BlockConfig {
    var c = BlockConfig()
    c.blockLength = blockLength; c.prefixLength = prefix; c.nEmbd = 32; c.nHead = 4
    c.blockLayers = 2; c.tokenLayers = 2; c.maxContext = maxContext
    return c
}

private func randomIDs(_ n: Int, vocab: Int, seed: UInt64) -> [Int32] {
    var rng = RNG(seed: seed)
    return (0..<n).map { _ in Int32(rng.nextInt(below: vocab)) }
}

@Suite struct BlockModelTests {
    @Test(arguments: [1, 2, 4, 8])
    func noTokenSeesALaterToken(blockLength: Int) {
        let model = BlockTransformer(tinyConfig(blockLength: blockLength, prefix: blockLength == 1 ? 1 : 2), vocabSize: 11, seed: 3)
        model.training = false
        let r = causalityViolation(vocabSize: 11, time: 4 * blockLength) { ids, b, t in model.alignedLogits(ids, batch: b, time: t) }
        #expect(r.isCausal, "\(r)")
        #expect(r.futureEffect > 0, "the perturbation never reached a prediction: \(r)")
    }

    @Test func noBlockSeesALaterBlock() {
        let c = tinyConfig()
        let model = BlockTransformer(c, vocabSize: 11, seed: 4)
        let t = 6 * c.blockLength
        let ids = randomIDs(2 * t, vocab: 11, seed: 5)
        let base = noGrad { model.contexts(ids, batch: 2, time: t) }
        for cut in 0..<5 {
            var changed = ids
            for b in 0..<2 { for i in ((cut + 1) * c.blockLength)..<t { changed[b * t + i] = (changed[b * t + i] + 1) % 11 } }
            let y = noGrad { model.contexts(changed, batch: 2, time: t) }
            var past: Float = 0, future: Float = 0
            for b in 0..<2 {
                for blk in 0..<6 {
                    for k in 0..<c.nEmbd {
                        let i = (b * 6 + blk) * c.nEmbd + k, d = abs(y.data[i] - base.data[i])
                        if blk <= cut { past = max(past, d) } else { future = max(future, d) }
                    }
                }
            }
            #expect(past == 0, "cut after block \(cut): an earlier context changed by \(past)")
            #expect(future > 0, "cut after block \(cut): the later blocks did not change")
        }
    }

    @Test func gradientsOfEveryParameter() {
        let c = tinyConfig(blockLength: 2, maxContext: 16)
        var cc = c
        cc.nEmbd = 8; cc.nHead = 2; cc.blockLayers = 1; cc.tokenLayers = 1
        let model = BlockTransformer(cc, vocabSize: 5, seed: 6)
        let ids = randomIDs(2 * 8, vocab: 5, seed: 7)
        // Weights of order 0.3 rather than the init's 0.02: at 0.02 a finite-difference step that
        // float32 can resolve is too large a move for layer norms of nearly-zero inputs.
        var rng = RNG(seed: 8)
        for p in model.parameters() { p.assign((0..<p.count).map { _ in 0.3 * rng.nextNormal() }) }
        let r = gradCheck(model.parameters(), eps: 1e-2, atol: 2e-3, rtol: 2e-2) { _ in model.blockLogits(ids, batch: 2, time: 8) }
        #expect(r.ok, "\(r)")
    }

    @Test func paddingStaysInTheFirstBlockAndCoversEveryOffset() {
        let c = tinyConfig()
        let model = BlockTransformer(c, vocabSize: 11, seed: 8)
        let t = 16, b = 200
        let ids = randomIDs(b * t, vocab: 11, seed: 9)
        let padded = model.padded(ids, batch: b, time: t)
        #expect(padded.count == ids.count)
        var seen = Set<Int>()
        for i in 0..<b {
            let row = Array(padded[(i * t)..<((i + 1) * t)])
            let r = row.prefix { $0 == model.padID }.count
            seen.insert(r)
            #expect(r < c.blockLength, "\(r) pads: more than the first block")
            #expect(Array(row[r...]) == Array(ids[(i * t)..<((i + 1) * t - r)]), "the window is not shifted right by its padding")
            #expect(!row[r...].contains(model.padID))
        }
        #expect(seen == Set(0..<c.blockLength), "offsets drawn: \(seen.sorted())")
        // A padded batch trains: no pad is ever a target.
        #expect(model.blockTargets(padded, batch: b, time: t).allSatisfy { $0 != model.padID })
        #expect(model.loss(padded, batch: b, time: t).item().isFinite)
    }

    @Test func nonEmbeddingParametersMatchVanillaPlusTheExpansion() {
        // The notes' "tiny" pair: vanilla 4 × 128 against 2 + 2 × 128; the block model adds the
        // expansion (128 → 256, with bias) and a second final norm.
        var c = BlockConfig()
        c.nEmbd = 128; c.nHead = 4; c.blockLayers = 2; c.tokenLayers = 2
        let block = BlockTransformer(c, vocabSize: 65, seed: 1)
        let vanilla = GPT(GPTConfig(vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128), seed: 1)
        #expect(nonEmbeddingParameterCount(vanilla) == 4 * 12 * 128 * 128 + 9 * 128)
        #expect(block.nonEmbeddingParameterCount == nonEmbeddingParameterCount(vanilla) + 128 * 256 + 256 + 128)
    }
}

@Suite struct GenerationTests {
    /// Cached generation must produce what re-running the model over the whole sequence gives,
    /// token by token: the same greedy tokens and logits within float32 round-off.
    @Test(arguments: [(1, 1), (2, 2), (4, 2), (8, 2)])
    func cachedBlockGenerationEqualsTheUncachedModel(blockLength: Int, prefix: Int) {
        let c = tinyConfig(blockLength: blockLength, prefix: prefix, maxContext: 96)
        let model = BlockTransformer(c, vocabSize: 13, seed: 10)
        model.training = false
        for promptLength in [1, 5, 8, 11] {
            let batch = 2, count = 3 * blockLength + 1
            let prompts = randomIDs(batch * promptLength, vocab: 13, seed: UInt64(promptLength))
            let cached = model.generate(prompts: prompts, batch: batch, count: count)
            var sequence = prompts, length = promptLength
            for g in 0..<count {
                let logits = model.uncachedNextLogits(sequence, batch: batch, promptLength: promptLength)
                var rng = RNG(seed: 0)
                let next = sampleTokens(logits, temperature: 0, rng: &rng)
                for b in 0..<batch {
                    #expect(next[b] == cached.tokens[b * count + g], "L_B \(blockLength), prompt \(promptLength): token \(g) of sequence \(b) differs")
                }
                var grown: [Int32] = []
                for b in 0..<batch { grown += sequence[(b * length)..<((b + 1) * length)] + [cached.tokens[b * count + g]] }
                sequence = grown; length += 1
            }
        }
    }

    @Test func cachedStepsGiveTheFullPassLogits() {
        let c = tinyConfig(maxContext: 64)
        let model = BlockTransformer(c, vocabSize: 13, seed: 11)
        model.training = false
        let ids = randomIDs(2 * 32, vocab: 13, seed: 12)
        let full = noGrad { model.contexts(ids, batch: 2, time: 32) }
        let cache = model.blockDecoder.makeCache(batch: 2, capacity: 8)
        let first = noGrad { model.blockDecoder.prefill(model.embedBlocks(Array(ids[0..<12]) + Array(ids[32..<44]), batch: 2, blocks: 3), cache: cache) }
        var worst: Float = 0
        for blk in 0..<3 { for b in 0..<2 { for k in 0..<c.nEmbd {
            worst = max(worst, abs(first.data[(b * 3 + blk) * c.nEmbd + k] - full.data[(b * 8 + blk) * c.nEmbd + k]))
        } } }
        for blk in 3..<8 {
            let block = Array(ids[(blk * 4)..<(blk * 4 + 4)]) + Array(ids[(32 + blk * 4)..<(32 + blk * 4 + 4)])
            let h = noGrad { model.blockDecoder.step(model.embedBlocks(block, batch: 2, blocks: 1).reshape([2, c.nEmbd]), cache: cache) }
            for b in 0..<2 { for k in 0..<c.nEmbd { worst = max(worst, abs(h.data[b * c.nEmbd + k] - full.data[(b * 8 + blk) * c.nEmbd + k])) } }
        }
        #expect(worst < 1e-5, "cached block decoder differs from the full pass by \(worst)")
    }

    @Test func cachedVanillaGenerationEqualsTheFullForward() {
        let gpt = GPT(GPTConfig(vocabSize: 13, blockSize: 48, nLayer: 2, nHead: 4, nEmbd: 32), seed: 13)
        gpt.training = false
        let batch = 3, p = 7, count = 20
        let prompts = randomIDs(batch * p, vocab: 13, seed: 14)
        let cached = generate(gpt, prompts: prompts, batch: batch, count: count)
        for b in 0..<batch {
            var seq = Array(prompts[(b * p)..<((b + 1) * p)])
            for g in 0..<count {
                let logits = noGrad { gpt(seq, batch: 1, time: seq.count) }
                let v = 13, row = (seq.count - 1) * v
                var best = 0
                for j in 1..<v where logits.data[row + j] > logits.data[row + best] { best = j }
                #expect(Int32(best) == cached.tokens[b * count + g], "vanilla: token \(g) of sequence \(b) differs")
                seq.append(cached.tokens[b * count + g])
            }
        }
    }

    @Test func temperatureSamplingIsSeededAndDiffersFromGreedy() {
        let model = BlockTransformer(tinyConfig(), vocabSize: 13, seed: 15)
        let prompts = randomIDs(2 * 6, vocab: 13, seed: 16)
        let a = model.generate(prompts: prompts, batch: 2, count: 24, temperature: 1, seed: 5)
        let b = model.generate(prompts: prompts, batch: 2, count: 24, temperature: 1, seed: 5)
        let greedy = model.generate(prompts: prompts, batch: 2, count: 24)
        #expect(a.tokens == b.tokens)
        #expect(a.tokens != greedy.tokens)
    }

    /// The bytes of the caches a generation allocates: vanilla N·(P + G − 1) positions; the
    /// block decoder one entry per block but the last, the token decoder p + L − 1.
    @Test(arguments: [(4, 2, 20, 12), (4, 2, 17, 9), (1, 1, 5, 7), (8, 2, 3, 30)])
    func cacheBytesEqualTheFormula(blockLength: Int, prefix: Int, prompt: Int, count: Int) {
        let c = tinyConfig(blockLength: blockLength, prefix: prefix, maxContext: 64)
        let model = BlockTransformer(c, vocabSize: 13, seed: 17)
        let gpt = GPT(GPTConfig(vocabSize: 13, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 32), seed: 18)
        let prompts = randomIDs(3 * prompt, vocab: 13, seed: 19)
        let gb = model.generate(prompts: prompts, batch: 3, count: count)
        let gv = generate(gpt, prompts: prompts, batch: 3, count: count)
        let pad = (blockLength - prompt % blockLength) % blockLength
        let blocks = (pad + prompt + count + blockLength - 1) / blockLength - 1
        #expect(gb.cacheBytes == 3 * 2 * 4 * 32 * (2 * blocks + 2 * (prefix + blockLength - 1)))
        #expect(gb.cacheBytes == 3 * blockCacheBytes(c, length: prompt + count, promptLength: prompt))
        #expect(gv.cacheBytes == 3 * 2 * 4 * 32 * 4 * (prompt + count - 1))
        #expect(gv.cacheBytes == 3 * vanillaCacheBytes(layers: 4, width: 32, length: prompt + count - 1))
    }

    @Test func cacheRatioApproachesTwiceTheBlockLength() {
        // At 2048 tokens the 1:1 split stores ≈ 2·L_B = 8× fewer entries (notes §4: 7.91).
        var c = BlockConfig()
        c.nEmbd = 128; c.blockLayers = 2; c.tokenLayers = 2
        let ratio = Double(vanillaCacheBytes(layers: 4, width: 128, length: 2047)) / Double(blockCacheBytes(c, length: 2048, promptLength: 128))
        #expect(abs(ratio - 7.91) < 0.05, "ratio \(ratio)")
    }
}
