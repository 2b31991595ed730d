import Testing
import TensorCore
@testable import NN

/// The KV-cached step must give the logits of the full forward pass at every position.
@Test(arguments: [(1, 8, 2), (3, 16, 4)])   // (batch, n_embd per head × heads, heads)
func kvCachedStepsMatchTheFullForward(batch: Int, nEmbd: Int, heads: Int) {
    let config = GPTConfig(vocabSize: 11, blockSize: 9, nLayer: 2, nHead: heads, nEmbd: nEmbd * heads / 2)
    let model = GPT(config, seed: 5)
    var rng = RNG(seed: 6)
    let t = 9
    let ids = (0..<(batch * t)).map { _ in Int32(rng.nextInt(below: 11)) }
    let full = noGrad { model(ids, batch: batch, time: t) }.toArray()     // (B, T, V)
    let cache = model.makeKVCache(batch: batch)
    for pos in 0..<t {
        let step = model.step((0..<batch).map { ids[$0 * t + pos] }, cache: cache).toArray()   // (B, V)
        var expected: [Double] = []
        for b in 0..<batch { let row = (b * t + pos) * 11; expected += full[row..<(row + 11)].map(Double.init) }
        let c = closeness(step, expected, atol: 2e-6, rtol: 1e-5)
        #expect(c.ok, "position \(pos): \(c)")
    }
    #expect(cache.length == t)
    let perLayer: Int = batch * heads * 9 * (config.nEmbd / heads)
    #expect(cache.bytes == 2 * 2 * perLayer * 4)
}

@Test func generationWithTheCacheMatchesRecomputation() {
    // Same seed, same sampler: the cached path must pick the same tokens as re-running the
    // prefix (and keep going past the block size, where it falls back to cropping).
    let config = GPTConfig(vocabSize: 13, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16)
    let model = GPT(config, seed: 3)
    var r1 = RNG(seed: 9), r2 = RNG(seed: 9)
    let cached = model.generate(prompt: [1, 2], count: 12, rng: &r1)
    // A model with a custom (but identical) activation has no cache and re-runs the prefix.
    let plain = GPT(config, seed: 3, activation: { $0.gelu() })
    #expect(!plain.supportsKVCache && model.supportsKVCache)
    let recomputed = plain.generate(prompt: [1, 2], count: 12, rng: &r2)
    #expect(cached == recomputed)
    #expect(cached.count == 14)
}

/// The prefill (one pass over the prompts, keys and values cached) gives the full forward pass's
/// last-position logits and the same cache, whether the batch goes through at once or one
/// sequence at a time (the grouping that bounds a long prompt's score memory).
@Test(.serialized, arguments: [Int.max, 1])
func prefillMatchesTheFullForwardInAnyGrouping(scoreBytes: Int) {
    let saved = CausalSelfAttention.prefillScoreBytes
    CausalSelfAttention.prefillScoreBytes = scoreBytes
    defer { CausalSelfAttention.prefillScoreBytes = saved }
    let config = GPTConfig(vocabSize: 11, blockSize: 12, nLayer: 2, nHead: 2, nEmbd: 16)
    let model = GPT(config, seed: 8)
    var rng = RNG(seed: 2)
    let batch = 3, t = 7
    let ids = (0..<(batch * t)).map { _ in Int32(rng.nextInt(below: 11)) }
    let full = noGrad { model(ids, batch: batch, time: t) }.toArray()      // (B, T, V)
    let cache = model.makeKVCache(batch: batch, capacity: t + 2)
    let last = model.prefill(ids, batch: batch, cache: cache).toArray()    // (B, V)
    var expected: [Double] = []
    for b in 0..<batch { let row = (b * t + t - 1) * 11; expected += full[row..<(row + 11)].map(Double.init) }
    let c = closeness(last, expected, atol: 2e-6, rtol: 1e-5)
    #expect(c.ok && cache.length == t, "\(c)")
    // The next step from the prefilled cache is the full pass one position on.
    let more = (0..<batch).map { _ in Int32(rng.nextInt(below: 11)) }
    var longer: [Int32] = []
    for b in 0..<batch { longer += ids[(b * t)..<((b + 1) * t)] + [more[b]] }
    let fullNext = noGrad { model(longer, batch: batch, time: t + 1) }.toArray()
    let step = model.step(more, cache: cache).toArray()
    var expectedNext: [Double] = []
    for b in 0..<batch { let row = (b * (t + 1) + t) * 11; expectedNext += fullNext[row..<(row + 11)].map(Double.init) }
    let n = closeness(step, expectedNext, atol: 2e-6, rtol: 1e-5)
    #expect(n.ok, "step after the prefill: \(n)")
}
